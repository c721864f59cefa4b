package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/internal/atomicfile"
	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/store"
)

// daemonClient builds the API client the way clientFlags does, for
// commands that also need the config itself.
func daemonClient(cfg *config.Config, socket string) *adminapi.Client {
	if socket == "" {
		socket = os.Getenv("LICGATE_SOCKET")
	}
	if socket == "" {
		socket = cfg.Socket
	}
	return adminapi.NewClient(socket)
}

// setupInvite is `licgate invite USER... | --group G | --all`: a
// single-use enrolment link per user, sent by e-mail through smtp: (or
// printed, and written to --csv, without it).
func setupInvite(fs *flag.FlagSet) runFunc {
	cfgPath := fs.String("c", defaultConfig, "config `FILE` (smtp settings, socket)")
	socket := fs.String("socket", "", "admin API socket `PATH` (overrides the config; also $LICGATE_SOCKET)")
	group := fs.String("group", "", "invite every member of policy `GROUP`")
	all := fs.Bool("all", false, "invite every enabled user")
	device := fs.String("device", "home", "`NAME` of the device each link creates")
	ttl := fs.String("ttl", "", "how long the links work (default public.link_ttl, at most 30d)")
	csvOut := fs.String("csv", "", "also write name,email,link to `FILE`")
	return func(e *env, users []string) error {
		if (len(users) > 0) == (*group != "" || *all) || (*group != "" && *all) {
			return usagef("name users, or --group G, or --all (one of them)")
		}
		if err := store.ValidName(*device); err != nil {
			return fmt.Errorf("--device: %w", err)
		}
		var d time.Duration
		if *ttl != "" {
			var err error
			if d, err = config.ParseDuration(*ttl); err != nil || d <= 0 || d > 30*24*time.Hour {
				return fmt.Errorf("--ttl %q: a duration up to 30d", *ttl)
			}
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		c := daemonClient(cfg, *socket)
		known, err := c.Users(e.ctx)
		if err != nil {
			return err
		}
		byName := map[string]store.User{}
		for _, u := range known {
			byName[u.Name] = u
		}
		switch {
		case *all:
			for _, u := range known {
				if !u.Disabled {
					users = append(users, u.Name)
				}
			}
		case *group != "":
			gs, err := c.Groups(e.ctx)
			if err != nil {
				return err
			}
			found := false
			for _, g := range gs {
				if g.Name == *group {
					found = true
					users = append(users, g.Members...)
				}
			}
			if !found {
				return fmt.Errorf("no policy group %q (licgate groups lists them)", *group)
			}
		}
		sort.Strings(users)
		useMail := cfg.SMTP.Host != ""
		// Check everything before any link exists. --all means everyone
		// with an address (the admin setup made usually has none); named
		// users must have one.
		kept := users[:0]
		for _, u := range users {
			su, ok := byName[u]
			if !ok {
				return fmt.Errorf("no user %q (licgate user add %s --email ...)", u, u)
			}
			if useMail && su.Email == "" {
				if *all {
					fmt.Fprintf(e.stdout, "%s: no e-mail address, left out\n", u)
					continue
				}
				return fmt.Errorf("user %s has no e-mail address: give one (licgate user add) or leave them out", u)
			}
			kept = append(kept, u)
		}
		users = kept
		if len(users) == 0 {
			return errors.New("nobody to invite")
		}
		var sender *mail.Sender
		if useMail {
			sender = mail.New(cfg.MailConfig(), slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		}
		var invites []mail.Invite
		failed := 0
		for _, u := range users {
			su := byName[u]
			link, err := c.CreateEnrollLink(e.ctx, adminapi.EnrollRequest{User: u, Device: *device, TTL: ttlString(d)})
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", u, err)
				failed++
				continue
			}
			invites = append(invites, mail.Invite{Name: u, Email: su.Email, Link: link.URL})
			if sender == nil {
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t(until %s)\n", u, su.Email, link.URL, link.Expires.Format(time.DateTime))
				continue
			}
			msg, err := mail.Invitation(mail.InvitationData{To: su.Email, Name: u, Organization: cfg.SMTP.Organization,
				Link: link.URL, Expires: link.Expires, Contact: cfg.SMTP.Contact})
			if err == nil {
				err = sender.Send(e.ctx, msg)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "%s <%s>: not sent: %v (the link works: %s)\n", u, su.Email, err, link.URL)
				failed++
				continue
			}
			fmt.Fprintf(e.stdout, "%s: invitation sent to %s (link until %s)\n", u, su.Email, link.Expires.Format(time.DateTime))
		}
		if *csvOut != "" {
			f, err := os.OpenFile(*csvOut, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // the links are secrets
			if err != nil {
				return err
			}
			err = mail.WriteCSV(f, invites)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "links written to %s (keep it private: each link enrols a device)\n", *csvOut)
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d invitations failed", failed, len(users))
		}
		return nil
	}
}

func ttlString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// setupUserImport is `licgate user import FILE.csv`: name,email[,groups]
// rows (a header row is recognised); users that exist are left alone.
func setupUserImport(fs *flag.FlagSet) runFunc {
	return func(e *env, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		type row struct {
			line        int
			name, email string
			groups      []string
		}
		var rows []row
		for line := 1; ; line++ {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
				continue
			}
			if len(rec) < 2 {
				return fmt.Errorf("%s:%d: want name,email[,groups]", args[0], line)
			}
			rw := row{line: line, name: strings.TrimSpace(rec[0]), email: strings.TrimSpace(rec[1])}
			if err := store.ValidName(rw.name); err != nil {
				return fmt.Errorf("%s:%d: %w", args[0], line, err)
			}
			if rw.email != "" && !strings.Contains(rw.email, "@") {
				return fmt.Errorf("%s:%d: %q is not an e-mail address", args[0], line, rw.email)
			}
			if len(rec) > 2 {
				for _, g := range strings.FieldsFunc(rec[2], func(r rune) bool { return r == ';' || r == ' ' || r == '|' }) {
					rw.groups = append(rw.groups, g)
				}
			}
			rows = append(rows, rw)
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		groups := map[string][]string{}
		added := 0
		for _, rw := range rows {
			_, err := c.AddUser(e.ctx, adminapi.AddUserRequest{Name: rw.name, Email: rw.email})
			var se *adminapi.APIStatusError
			switch {
			case err == nil:
				added++
			case errors.As(err, &se) && se.Status == 409:
				fmt.Fprintf(e.stdout, "%s: exists, left alone\n", rw.name)
			default:
				return fmt.Errorf("%s:%d: %s: %w", args[0], rw.line, rw.name, err)
			}
			for _, g := range rw.groups {
				groups[g] = append(groups[g], rw.name)
			}
		}
		fmt.Fprintf(e.stdout, "%d users added, %d rows\n", added, len(rows))
		if len(groups) > 0 {
			// Groups the config already has (setup writes admins and
			// staff) get their members there, comments kept; the rest
			// are shown to paste.
			if f := fs.Lookup("c"); f != nil {
				if err := addToPolicyGroups(e, c, f.Value.String(), groups); err != nil {
					fmt.Fprintf(e.stdout, "The groups were not written to %s: %v\n", f.Value.String(), err)
				}
			}
		}
		if len(groups) > 0 {
			// Groups live in the policy (or come from the directory): show
			// the block to paste, rather than editing the admin's file.
			fmt.Fprintln(e.stdout, "\nGroups are part of the policy. Add them under policy.groups in licgate.yaml, then `licgate policy reload`:")
			names := make([]string, 0, len(groups))
			for g := range groups {
				names = append(names, g)
			}
			sort.Strings(names)
			fmt.Fprintln(e.stdout, "  groups:")
			for _, g := range names {
				fmt.Fprintf(e.stdout, "    %s: [%s]\n", g, strings.Join(groups[g], ", "))
			}
		}
		return nil
	}
}

// addToPolicyGroups adds the imported users to the policy groups that
// already exist in the config file at path (deleting them from groups),
// writes the file if that changed it (validated first) and reloads the
// daemon.
func addToPolicyGroups(e *env, c *adminapi.Client, path string, groups map[string][]string) error {
	if _, err := config.Load(path); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return fmt.Errorf("%s: %w", path, err)
	}
	var done []string
	for g, members := range groups {
		if yamlAt(root.Content[0], "policy", "groups", g) == nil {
			continue // not in this file (or the policy is in policy_file)
		}
		for _, m := range members {
			addMember(root.Content[0], m, "policy", "groups", g)
		}
		done = append(done, g)
	}
	if len(done) == 0 {
		return nil
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return err
	}
	if _, err := config.Parse(path, out); err != nil {
		return fmt.Errorf("the config would not load (nothing written): %w", err)
	}
	if err := atomicfile.Write(path, out, 0o640); err != nil {
		return err
	}
	sort.Strings(done)
	for _, g := range done {
		fmt.Fprintf(e.stdout, "policy group %s: %s added in %s\n", g, strings.Join(groups[g], ", "), path)
		delete(groups, g)
	}
	if _, err := c.Reload(e.ctx); err != nil {
		return fmt.Errorf("written, but the daemon did not reload (licgate policy reload): %w", err)
	}
	return nil
}

// yamlAt is the node at the path of mapping keys, or nil.
func yamlAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
