package dirsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/directory"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// Users looks licgate's users up (the store).
type Users interface {
	User(ctx context.Context, name string) (store.User, error)
}

// Disabler disables and re-enables users, cutting a disabled user's
// sessions (identity.Manager); it returns the sessions cut.
type Disabler interface {
	SetUserDisabled(ctx context.Context, name string, disabled bool) (int, error)
}

// Policy re-decides live sessions after the groups changed
// (admission.Controller).
type Policy interface {
	Reevaluate(why string) int
}

// Recorder receives audit events (audit.Writer).
type Recorder interface {
	Event(actor, action, detail string)
}

// Settings are the configured values dirsync reads at each sync.
type Settings struct {
	// AdminGroup is the policy group whose members administer licgate.
	AdminGroup string
	// Policy is the policy in force (nil: cannot tell which groups it
	// names, so every group counts against directory.max_change).
	Policy *acl.Policy
}

// Deps are what a Sync is given; all but Logger are required.
type Deps struct {
	// Directory is the LDAP/AD connection and the safeguard's limits.
	Directory directory.Config
	Users     Users
	Disabler  Disabler
	Policy    Policy
	Audit     Recorder
	Settings  func() Settings
	// GroupName is the policy group a directory group feeds ("" if its
	// name cannot be one).
	GroupName func(dirGroup string) string
	// SetGroups puts the policy in force with members (policy group ->
	// users) as the directory's groups; an error if it does not compile.
	SetGroups func(members map[string][]string) error
	Logger    *slog.Logger
}

// Sync keeps licgate in step with the directory. A nil *Sync stands for
// "no directory configured": Status is nil and the rest ErrNoDirectory.
type Sync struct {
	d        Deps
	log      *slog.Logger
	syncer   *directory.Syncer
	mu       sync.Mutex
	members  map[string][]string // policy group -> users
	last     directory.Snapshot  // to diff the next one
	haveLast bool
	disabled map[string]bool // the users this sync disabled (it re-enables only those)
}

// ErrNoDirectory: no directory is configured.
var ErrNoDirectory = errors.New("no directory is configured (directory.url in licgate.yaml)")

// New returns a Sync; Run does the work.
func New(d Deps) *Sync {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sync{d: d, log: d.Logger, disabled: map[string]bool{}}
	s.syncer = directory.New(d.Directory, d.Logger)
	s.syncer.Relevant = s.relevant
	return s
}

// Run syncs every interval and on demand (SyncNow) until ctx ends. The
// last good snapshot stays in force while the directory cannot be
// reached (its status says stale), never an empty one.
func (s *Sync) Run(ctx context.Context, interval time.Duration) {
	s.syncer.Run(ctx, interval, s.apply)
}

// Members are the directory's groups as last put in force (nil before
// the first snapshot): a reload compiles its policy with them.
func (s *Sync) Members() map[string][]string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members
}

// Status is the directory sync's state (nil without a directory).
func (s *Sync) Status() *directory.Status {
	if s == nil {
		return nil
	}
	st := s.syncer.Status()
	return &st
}

// Accept puts the snapshot the safeguard held back in force (the admin
// says the mass change is real): sessions are cut as for any sync.
// directory.ErrNothingHeld when there is none.
func (s *Sync) Accept(ctx context.Context) (directory.Held, error) {
	if s == nil {
		return directory.Held{}, ErrNoDirectory
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	h, err := s.syncer.Accept(ctx)
	if err == nil {
		s.d.Audit.Event(audit.ActorOf(ctx), "directory.accept", fmt.Sprintf("%d of %d users lose rights (%d removed, %d disabled, %d out of a group): %s",
			h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, strings.Join(h.Names, ",")))
	}
	return h, err
}

// SyncNow asks for a sync now (it runs in the background).
func (s *Sync) SyncNow() error {
	if s == nil {
		return ErrNoDirectory
	}
	s.syncer.SyncNow()
	return nil
}

// apply puts a snapshot in force: groups into the policy (live
// sessions re-decided, as on a reload), users disabled or removed in the
// directory disabled here (their sessions cut), and re-enabled when the
// directory enables them again.
func (s *Sync) apply(snap directory.Snapshot) {
	ctx := audit.WithActor(context.Background(), "directory")
	members := map[string][]string{}
	for _, u := range snap.Users {
		if u.Disabled {
			continue
		}
		name := strings.ToLower(u.Name)
		for _, grp := range u.Groups {
			if pg := s.d.GroupName(grp); pg != "" {
				members[pg] = append(members[pg], name)
			}
		}
	}
	s.mu.Lock()
	prev, hadPrev := s.last, s.haveLast
	s.last, s.haveLast = snap, true
	s.members = members
	s.mu.Unlock()
	if err := s.d.SetGroups(members); err != nil {
		s.log.Error("directory groups not applied: the policy with them does not compile", slog.String("err", err.Error()))
		return
	}
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
			if _, err := s.d.Users.User(ctx, name); err != nil {
				continue // not a licgate user
			}
			n, err := s.d.Disabler.SetUserDisabled(ctx, name, true)
			if err == nil {
				s.mu.Lock()
				s.disabled[name] = true
				s.mu.Unlock()
				s.log.Info("directory: user disabled", slog.String("user", name), slog.Bool("removed", c.Removed), slog.Int("sessions_cut", n))
			}
		case c.Enabled || c.Added:
			s.mu.Lock()
			was := s.disabled[name]
			delete(s.disabled, name)
			s.mu.Unlock()
			if was {
				s.d.Disabler.SetUserDisabled(ctx, name, false)
			}
		}
	}
	n := s.d.Policy.Reevaluate(session.EndPolicy)
	s.log.Info("directory synced", slog.Int("users", len(snap.Users)), slog.Int("groups", len(members)), slog.Int("sessions_cut", n))
}

// relevant reports whether the policy in force names the directory
// group dirGroup (a rule's group:NAME, a policy group, the admin group):
// losing it takes rights away, so it counts against directory.max_change.
func (s *Sync) relevant(dirGroup string) bool {
	pg := s.d.GroupName(dirGroup)
	if pg == "" {
		return false
	}
	set := s.d.Settings()
	if pg == set.AdminGroup {
		return true
	}
	if set.Policy == nil {
		return true // cannot tell: count it
	}
	_, ok := set.Policy.Groups[pg]
	return ok
}
