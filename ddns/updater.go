package ddns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Updater points a name at an address with one provider.
//
// Update returns nil on success (including "no change" answers), a
// *FatalError when a person must fix something (bad credentials, abuse
// block: the Manager stops using the provider), a *BackoffError when the
// provider asks to wait, and any other error for transient trouble.
type Updater interface {
	Update(ctx context.Context, host string, addr netip.Addr) error
}

// Verifier is implemented by updaters that can read the record's current
// value from the authoritative server.
type Verifier interface {
	Current(ctx context.Context, host string, fam Family) ([]netip.Addr, error)
}

// FatalError stops a provider until its configuration changes.
type FatalError struct {
	Provider string
	Code     string // the provider's answer, e.g. badauth, NOTAUTH
	Msg      string
}

func (e *FatalError) Error() string {
	return fmt.Sprintf("ddns: %s: %s: %s (fatal: fix the configuration; no more updates are sent)", e.Provider, e.Code, e.Msg)
}

// BackoffError asks to wait at least Wait before the next attempt.
type BackoffError struct {
	Provider string
	Code     string
	Wait     time.Duration
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("ddns: %s: %s: provider trouble; waiting at least %s", e.Provider, e.Code, e.Wait)
}

// IsFatal reports whether err stops the provider.
func IsFatal(err error) bool {
	var f *FatalError
	return errors.As(err, &f)
}
