package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/config"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/session"
)

// dirState is what the gateway keeps of the directory: the memberships
// merged into the policy, the last snapshot (to diff the next one), and
// the users it disabled (so it re-enables only those).
type dirState struct {
	mu       sync.Mutex
	syncer   *directory.Syncer
	members  map[string][]string // policy group -> users
	last     directory.Snapshot
	haveLast bool
	disabled map[string]bool
}

// startDirectory syncs on an interval and on demand until Close. The
// last good snapshot stays in force while the directory cannot be
// reached (its status says stale), never an empty one.
func (g *Gateway) startDirectory(ctx context.Context, cfg *config.Config) {
	g.dir.syncer = directory.New(cfg.DirectorySyncConfig(), g.log.With(slog.String("component", "directory")))
	g.dir.syncer.Relevant = g.policyUsesGroup
	g.dir.disabled = map[string]bool{}
	g.wg.Add(1)
	go g.runDirectory(ctx, cfg.Directory.Interval.Duration)
}

func (g *Gateway) runDirectory(ctx context.Context, interval time.Duration) {
	defer g.wg.Done()
	g.dir.syncer.Run(ctx, interval, g.applyDirectory)
}

// applyDirectory puts a snapshot in force: groups into the policy (live
// sessions re-decided, as on a reload), users disabled or removed in the
// directory disabled here (their sessions cut), and re-enabled when the
// directory enables them again.
func (g *Gateway) applyDirectory(snap directory.Snapshot) {
	ctx := audit.WithActor(context.Background(), "directory")
	members := map[string][]string{}
	for _, u := range snap.Users {
		if u.Disabled {
			continue
		}
		name := strings.ToLower(u.Name)
		for _, grp := range u.Groups {
			if pg := config.PolicyGroupName(grp); pg != "" {
				members[pg] = append(members[pg], name)
			}
		}
	}
	g.dir.mu.Lock()
	prev, hadPrev := g.dir.last, g.dir.haveLast
	g.dir.last, g.dir.haveLast = snap, true
	g.dir.members = members
	g.dir.mu.Unlock()
	g.mu.Lock()
	eng, err := g.conf().EngineWith(members)
	if err != nil {
		g.mu.Unlock()
		g.log.Error("directory groups not applied: the policy with them does not compile", slog.String("err", err.Error()))
		return
	}
	g.SetEngine(eng)
	g.mu.Unlock()
	var changes []directory.Change
	if hadPrev {
		changes = directory.Diff(prev, snap)
	} else {
		// First snapshot: users the directory has disabled are disabled here.
		for _, u := range snap.Users {
			if u.Disabled {
				changes = append(changes, directory.Change{Name: u.Name, Disabled: true})
			}
		}
	}
	for _, c := range changes {
		name := strings.ToLower(c.Name)
		switch {
		case c.Removed || c.Disabled:
			if _, err := g.st.User(ctx, name); err != nil {
				continue // not a licgate user
			}
			n, err := g.SetUserDisabled(ctx, name, true)
			if err == nil {
				g.dir.mu.Lock()
				g.dir.disabled[name] = true
				g.dir.mu.Unlock()
				g.log.Info("directory: user disabled", slog.String("user", name), slog.Bool("removed", c.Removed), slog.Int("sessions_cut", n))
			}
		case c.Enabled || c.Added:
			g.dir.mu.Lock()
			was := g.dir.disabled[name]
			delete(g.dir.disabled, name)
			g.dir.mu.Unlock()
			if was {
				g.SetUserDisabled(ctx, name, false)
			}
		}
	}
	n := g.Reevaluate(session.EndPolicy)
	g.log.Info("directory synced", slog.Int("users", len(snap.Users)), slog.Int("groups", len(members)), slog.Int("sessions_cut", n))
}

// policyUsesGroup reports whether the policy in force names the directory
// group dirGroup (a rule's group:NAME, a policy group, the admin group):
// losing it takes rights away, so it counts against directory.max_change.
func (g *Gateway) policyUsesGroup(dirGroup string) bool {
	pg := config.PolicyGroupName(dirGroup)
	if pg == "" {
		return false
	}
	c := g.conf()
	if pg == c.Admin.Group {
		return true
	}
	eng := c.Engine()
	if eng == nil || eng.Policy() == nil {
		return true // cannot tell: count it
	}
	_, ok := eng.Policy().Groups[pg]
	return ok
}

// directoryEngine is the policy in force for cfg with the directory's
// groups (after a reload).
func (g *Gateway) directoryEngine(cfg *config.Config) error {
	g.dir.mu.Lock()
	members := g.dir.members
	g.dir.mu.Unlock()
	if members == nil {
		return nil
	}
	eng, err := cfg.EngineWith(members)
	if err != nil {
		return err
	}
	g.SetEngine(eng)
	return nil
}

// ErrNoDirectory: no directory is configured.
var ErrNoDirectory = errors.New("no directory is configured (directory.url in licgate.yaml)")

// DirectoryStatus is the directory sync's state (nil without a directory).
func (g *Gateway) DirectoryStatus() *directory.Status {
	if g.dir.syncer == nil {
		return nil
	}
	st := g.dir.syncer.Status()
	return &st
}

// DirectoryAccept puts the snapshot the safeguard held back in force
// (the admin says the mass change is real): sessions are cut as for any
// sync. directory.ErrNothingHeld when there is none.
func (g *Gateway) DirectoryAccept(ctx context.Context) (directory.Held, error) {
	if g.dir.syncer == nil {
		return directory.Held{}, ErrNoDirectory
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h, err := g.dir.syncer.Accept(ctx)
	if err == nil {
		g.auditEvent(audit.ActorOf(ctx), "directory.accept", fmt.Sprintf("%d of %d users lose rights (%d removed, %d disabled, %d out of a group): %s",
			h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, strings.Join(h.Names, ",")))
	}
	return h, err
}

// DirectorySync asks for a sync now (it runs in the background).
func (g *Gateway) DirectorySync(context.Context) error {
	if g.dir.syncer == nil {
		return ErrNoDirectory
	}
	g.dir.syncer.SyncNow()
	return nil
}
