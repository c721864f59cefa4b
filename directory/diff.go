package directory

import (
	"slices"
	"strings"
)

// Change is what happened to one user between two snapshots.
type Change struct {
	Name     string // as the newer snapshot spells it (the older, if removed)
	Added    bool   // new in the directory
	Removed  bool   // gone from the directory (or out of UserFilter)
	Disabled bool   // was enabled, is now disabled
	Enabled  bool   // was disabled, is now enabled
	// GroupsAdded and GroupsRemoved are sorted group names.
	GroupsAdded   []string
	GroupsRemoved []string
}

// CutSessions reports whether the change takes rights away, so that the
// gateway should end the user's sessions (or re-check their policy):
// the user was removed or disabled, or left a group.
func (c Change) CutSessions() bool {
	return c.Removed || c.Disabled || len(c.GroupsRemoved) > 0
}

// Diff lists the changes from old to new, one per user that changed,
// sorted by name. User names compare without case.
func Diff(old, new Snapshot) []Change {
	before := make(map[string]User, len(old.Users))
	for _, u := range old.Users {
		before[strings.ToLower(u.Name)] = u
	}
	var out []Change
	seen := make(map[string]bool, len(new.Users))
	for _, u := range new.Users {
		k := strings.ToLower(u.Name)
		seen[k] = true
		o, ok := before[k]
		if !ok {
			out = append(out, Change{Name: u.Name, Added: true, Disabled: u.Disabled, GroupsAdded: slices.Clone(u.Groups)})
			continue
		}
		c := Change{Name: u.Name, Disabled: u.Disabled && !o.Disabled, Enabled: !u.Disabled && o.Disabled}
		c.GroupsAdded, c.GroupsRemoved = setDiff(o.Groups, u.Groups)
		if c.Disabled || c.Enabled || len(c.GroupsAdded) > 0 || len(c.GroupsRemoved) > 0 {
			out = append(out, c)
		}
	}
	for _, u := range old.Users {
		if !seen[strings.ToLower(u.Name)] {
			out = append(out, Change{Name: u.Name, Removed: true, GroupsRemoved: slices.Clone(u.Groups)})
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}

// setDiff returns what b has that a lacks, and what a has that b lacks.
func setDiff(a, b []string) (added, removed []string) {
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			removed = append(removed, x)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}
