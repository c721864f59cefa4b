package office

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
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
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/mail"
	"github.com/licgate/licgate/store"
)

// InviteOptions are who to invite and how.
type InviteOptions struct {
	// Config gives the smtp: settings (none: links are printed).
	Config *config.Config
	// Client reaches the daemon (users, groups, links).
	Client *adminapi.Client
	// Users to invite by name; or every member of Group; or All enabled users.
	Users []string
	Group string
	All   bool
	// Force: with All or Group, invite users who already have a device
	// too (a user without an e-mail address who has one is still only
	// listed: a printed link for them would be handed to nobody).
	Force bool
	// Device names the device each link creates.
	Device string
	// TTL of the links; zero: the daemon's public.link_ttl.
	TTL time.Duration
	// CSV, if set, gets name,email,link (0600: the links are secrets).
	CSV string
	// Stdout and Stderr get progress and problems.
	Stdout, Stderr io.Writer
}

// ErrNobody: no user to invite.
var ErrNobody = errors.New("nobody to invite")

// Invite makes a single-use enrolment link per user and sends it by
// e-mail (smtp:) or prints it. Users and addresses are checked before any
// link is made.
func Invite(ctx context.Context, o InviteOptions) error {
	cfg, c, users, d := o.Config, o.Client, o.Users, o.TTL
	known, err := c.Users(ctx)
	if err != nil {
		return err
	}
	byName := map[string]store.User{}
	for _, u := range known {
		byName[u.Name] = u
	}
	switch {
	case o.All:
		for _, u := range known {
			if !u.Disabled {
				users = append(users, u.Name)
			}
		}
	case o.Group != "":
		gs, err := c.Groups(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, g := range gs {
			if g.Name == o.Group {
				found = true
				users = append(users, g.Members...)
			}
		}
		if !found {
			return fmt.Errorf("no policy group %q (licgate groups lists them)", o.Group)
		}
	}
	sort.Strings(users)
	useMail := cfg.SMTP.Host != ""
	bulk := o.All || o.Group != ""
	devices := map[string]int{}
	if bulk {
		ds, err := c.Devices(ctx, false)
		if err != nil {
			return err
		}
		for _, d := range ds {
			devices[d.User]++
		}
	}
	// Check everything before any link exists. All (or a group) means
	// everyone with an address who has no device yet (the admin setup
	// enrolled usually has a device and no address); named users are
	// invited as asked and must have an address when mailing.
	kept := users[:0]
	for _, u := range users {
		su, ok := byName[u]
		if !ok {
			return fmt.Errorf("no user %q (licgate user add %s --email ...)", u, u)
		}
		if err := store.ValidEmail(su.Email); err != nil {
			// Stored by an older version: never printed, mailed or written
			// raw (the error quotes it).
			fmt.Fprintf(o.Stdout, "%s: left out: %v\n", u, err)
			continue
		}
		if n := devices[u]; n > 0 && (su.Email == "" || !o.Force) {
			if su.Email == "" {
				fmt.Fprintf(o.Stdout, "%s: has %d device(s) and no e-mail address: no link (licgate invite %s makes one)\n", u, n, u)
			} else {
				fmt.Fprintf(o.Stdout, "%s: has %d device(s) already, left out (--force invites them too)\n", u, n)
			}
			continue
		}
		if useMail && su.Email == "" {
			if o.All {
				fmt.Fprintf(o.Stdout, "%s: no e-mail address, left out\n", u)
				continue
			}
			return fmt.Errorf("user %s has no e-mail address: give one (licgate user add) or leave them out", u)
		}
		kept = append(kept, u)
	}
	users = kept
	if len(users) == 0 {
		return ErrNobody
	}
	var sender *mail.Sender
	if useMail {
		sender = mail.New(cfg.MailConfig(), slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	var invites []mail.Invite
	failed := 0
	for _, u := range users {
		su := byName[u]
		link, err := c.CreateEnrollLink(ctx, adminapi.EnrollRequest{User: u, Device: o.Device, TTL: ttlString(d)})
		if err != nil {
			fmt.Fprintf(o.Stderr, "%s: %v\n", u, err)
			failed++
			continue
		}
		invites = append(invites, mail.Invite{Name: u, Email: su.Email, Link: link.URL})
		if sender == nil {
			fmt.Fprintf(o.Stdout, "%s\t%s\t%s\t(until %s)\n", u, su.Email, link.URL, link.Expires.Format(time.DateTime))
			continue
		}
		msg, err := mail.Invitation(mail.InvitationData{To: su.Email, Name: u, Organization: cfg.SMTP.Organization,
			Link: link.URL, Expires: link.Expires, Contact: cfg.SMTP.Contact})
		if err == nil {
			err = sender.Send(ctx, msg)
		}
		if err != nil {
			fmt.Fprintf(o.Stderr, "%s <%s>: not sent: %v (the link works: %s)\n", u, su.Email, err, link.URL)
			failed++
			continue
		}
		fmt.Fprintf(o.Stdout, "%s: invitation sent to %s (link until %s)\n", u, su.Email, link.Expires.Format(time.DateTime))
	}
	if o.CSV != "" {
		f, err := os.OpenFile(o.CSV, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // the links are secrets
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
		fmt.Fprintf(o.Stdout, "links written to %s (keep it private: each link enrols a device)\n", o.CSV)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d invitations failed", failed, len(users))
	}
	return nil
}

func ttlString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// ImportUsers adds users from a CSV of name,email[,groups] (a header row
// is recognised); existing users are left alone. Groups belong to the
// policy: the block to paste into licgate.yaml is printed.
//
// Groups that already exist in the config at configPath (setup writes
// admins and staff) get their members there, comments kept, and the
// daemon reloads; the rest are printed to paste.
func ImportUsers(ctx context.Context, c *adminapi.Client, path, configPath string, stdout io.Writer) error {
	data, err := boundedfile.Read(path, boundedfile.Config) // 4 MiB: tens of thousands of users
	if err != nil {
		return err
	}
	r := csv.NewReader(bytes.NewReader(data))
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
			return fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
			continue
		}
		if len(rec) < 2 {
			return fmt.Errorf("%s:%d: want name,email[,groups]", path, line)
		}
		rw := row{line: line, name: strings.TrimSpace(rec[0]), email: strings.TrimSpace(rec[1])}
		if err := store.ValidName(rw.name); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if err := store.ValidEmail(rw.email); err != nil {
			return fmt.Errorf("%s:%d: %w (nothing imported)", path, line, err)
		}
		if len(rec) > 2 {
			for _, g := range strings.FieldsFunc(rec[2], func(r rune) bool { return r == ';' || r == ' ' || r == '|' }) {
				rw.groups = append(rw.groups, g)
			}
		}
		rows = append(rows, rw)
	}
	groups := map[string][]string{}
	added := 0
	for _, rw := range rows {
		_, err := c.AddUser(ctx, adminapi.AddUserRequest{Name: rw.name, Email: rw.email})
		var se *adminapi.APIStatusError
		switch {
		case err == nil:
			added++
		case errors.As(err, &se) && se.Status == 409:
			fmt.Fprintf(stdout, "%s: exists, left alone\n", rw.name)
		default:
			return fmt.Errorf("%s:%d: %s: %w", path, rw.line, rw.name, err)
		}
		for _, g := range rw.groups {
			groups[g] = append(groups[g], rw.name)
		}
	}
	fmt.Fprintf(stdout, "%d users added, %d rows\n", added, len(rows))
	if len(groups) > 0 && configPath != "" {
		if err := addToPolicyGroups(ctx, c, configPath, groups, stdout); err != nil {
			fmt.Fprintf(stdout, "The groups were not written to %s: %v\n", configPath, err)
		}
	}
	if len(groups) > 0 {
		// Groups live in the policy (or come from the directory): show
		// the block to paste, rather than editing the admin's file.
		fmt.Fprintln(stdout, "\nGroups are part of the policy. Add them under policy.groups in licgate.yaml, then `licgate policy reload`:")
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		fmt.Fprintln(stdout, "  groups:")
		for _, g := range names {
			fmt.Fprintf(stdout, "    %s: [%s]\n", g, strings.Join(groups[g], ", "))
		}
	}
	return nil
}

// addToPolicyGroups adds the imported users to the policy groups that
// already exist in the config file at path (deleting them from groups),
// writes the file if that changed it (validated first) and reloads the
// daemon.
func addToPolicyGroups(ctx context.Context, c *adminapi.Client, path string, groups map[string][]string, stdout io.Writer) error {
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
			AddMember(root.Content[0], m, "policy", "groups", g)
		}
		done = append(done, g)
	}
	if len(done) == 0 {
		return nil
	}
	out, err := marshalYAML(&root)
	if err != nil {
		return err
	}
	if _, err := config.Parse(path, out); err != nil {
		return fmt.Errorf("the config would not load (nothing written): %w", err)
	}
	if err := writeConfig(path, out); err != nil {
		return err
	}
	sort.Strings(done)
	for _, g := range done {
		fmt.Fprintf(stdout, "policy group %s: %s added in %s\n", g, strings.Join(groups[g], ", "), path)
		delete(groups, g)
	}
	if _, err := c.Reload(ctx); err != nil {
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
