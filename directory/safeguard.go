package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrNothingHeld: Accept was called with no snapshot held back.
var ErrNothingHeld = errors.New("directory: no snapshot is held back")

// maxHeldNames bounds the names a Held lists.
const maxHeldNames = 20

// Held describes a snapshot that the safeguard refused: it would have
// taken rights from more users at once than MaxChange allows. The last
// good snapshot stays in force until an admin accepts the held one
// (Syncer.Accept) or a later sync is within the limit.
type Held struct {
	Time  time.Time // when it was read
	Users int       // users in it
	// Last is the number of users in the snapshot in force; Affected of
	// them would lose rights: Removed (gone from the directory), Disabled
	// (newly disabled) or Ungrouped (out of a group that matters).
	Last, Affected               int
	Removed, Disabled, Ungrouped int
	// Limit is the most users one sync may affect (see Config.MaxChange).
	Limit int
	// Names are the first affected users (at most 20), sorted.
	Names []string

	snap Snapshot
}

// changeLimit is the number of users one sync may take rights from when
// the last snapshot had total users.
func (c Config) changeLimit(total int) int {
	return max(int(c.MaxChange*float64(total)), c.MaxChangeUsers)
}

// affected compares snap with last: how many users would lose rights.
// relevant says which groups count (nil: all).
func affected(last, snap Snapshot, relevant func(string) bool) Held {
	h := Held{Time: snap.Time, Users: len(snap.Users), Last: len(last.Users), snap: snap}
	wasDisabled := map[string]bool{}
	for _, u := range last.Users {
		if u.Disabled {
			wasDisabled[strings.ToLower(u.Name)] = true
		}
	}
	for _, c := range Diff(last, snap) {
		switch {
		case c.Added || wasDisabled[strings.ToLower(c.Name)]:
			continue // had no rights to lose
		case c.Removed:
			h.Removed++
		case c.Disabled:
			h.Disabled++
		default:
			lost := false
			for _, g := range c.GroupsRemoved {
				if relevant == nil || relevant(g) {
					lost = true
					break
				}
			}
			if !lost {
				continue
			}
			h.Ungrouped++
		}
		h.Affected++
		if len(h.Names) < maxHeldNames {
			h.Names = append(h.Names, c.Name)
		}
	}
	return h
}

// check refuses a snapshot that empties the directory or takes rights
// from too many users at once. It returns the held description with
// ErrSuspicious; nil, nil when snap may replace last.
func (s *Syncer) check(snap Snapshot) (*Held, error) {
	last, have := s.Last()
	if !have || len(last.Users) == 0 {
		return nil, nil
	}
	h := affected(last, snap, s.Relevant)
	h.Limit = s.cfg.changeLimit(len(last.Users))
	if len(snap.Users) == 0 {
		if s.cfg.AllowEmpty {
			return nil, nil
		}
		return &h, fmt.Errorf("%w: 0 users under %q with %s, last sync had %d (set allow_empty if this is real, or accept it: licgate directory accept)",
			ErrSuspicious, s.cfg.UserBaseDN, s.cfg.UserFilter, len(last.Users))
	}
	if s.cfg.MaxChange >= 1 || h.Affected <= h.Limit {
		return nil, nil
	}
	return &h, fmt.Errorf("%w: it would take rights from %d of %d users at once (%d removed, %d disabled, %d out of a group; max_change %.2f allows %d): %s; "+
		"if this is real: licgate directory accept",
		ErrSuspicious, h.Affected, h.Last, h.Removed, h.Disabled, h.Ungrouped, s.cfg.MaxChange, h.Limit, strings.Join(h.Names, ", "))
}

// Accept puts the held snapshot in force, as if the sync that read it had
// been within the limits: Run's onSnapshot gets it, on Run's goroutine,
// before Accept returns. It returns ErrNothingHeld when there is none.
// Accept needs a running Run loop; without one it waits until ctx ends.
func (s *Syncer) Accept(ctx context.Context) (Held, error) {
	reply := make(chan acceptResult, 1)
	select {
	case s.acceptReq <- reply:
	case <-ctx.Done():
		return Held{}, fmt.Errorf("directory: accept: %w", context.Cause(ctx))
	}
	select {
	case r := <-reply:
		return r.held, r.err
	case <-ctx.Done():
		return Held{}, fmt.Errorf("directory: accept: %w", context.Cause(ctx))
	}
}

type acceptResult struct {
	held Held
	err  error
}

// acceptHeld makes the held snapshot the last good one.
func (s *Syncer) acceptHeld() (Held, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	h := s.held
	if h == nil {
		s.mu.Unlock()
		return Held{}, ErrNothingHeld
	}
	s.held = nil
	s.last, s.have = h.snap, true
	s.status.LastError = nil
	s.status.LastSuccess = h.Time
	s.status.Users, s.status.Groups = len(h.snap.Users), len(h.snap.Groups)
	s.mu.Unlock()
	s.log.Warn("directory: held snapshot accepted by an admin", slog.Int("affected", h.Affected), slog.Int("of", h.Last),
		slog.Int("removed", h.Removed), slog.Int("disabled", h.Disabled), slog.Int("ungrouped", h.Ungrouped), slog.Time("read", h.Time))
	return *h, nil
}
