//go:build licgate_omit_postgres

package cluster

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/tunnel"
)

// ErrOmitted: this build leaves PostgreSQL, and so the cluster, out
// (the licgate_omit_postgres tag of the router build).
var ErrOmitted = errors.New("cluster: this build omits PostgreSQL (licgate_omit_postgres): no cluster mode")

// ErrClosed is returned by calls after Close, and by a second Close.
var ErrClosed = net.ErrClosed

// Cluster cannot exist in this build: New always fails.
type Cluster struct{}

// New fails: this build has no cluster mode.
func New(Config) (*Cluster, error) { return nil, ErrOmitted }

// Config is accepted for the same calls as in the full build.
type Config struct{}

// Join fails: this build has no cluster mode.
func Join(context.Context, MemberConfig) (*Member, error) { return nil, ErrOmitted }

func (*Cluster) ID() string                                                       { return "" }
func (*Cluster) Breaker() BreakerStatus                                           { return BreakerStatus{} }
func (*Cluster) Start(context.Context) error                                      { return ErrOmitted }
func (*Cluster) Close() error                                                     { return ErrOmitted }
func (*Cluster) Notify(context.Context, Change) error                             { return ErrOmitted }
func (*Cluster) Watch(context.Context, func(Change)) error                        { return ErrOmitted }
func (*Cluster) Release(context.Context, int64) error                             { return ErrOmitted }
func (*Cluster) Update(context.Context, int64, Decision) error                    { return ErrOmitted }
func (*Cluster) Sessions(context.Context) ([]Session, error)                      { return nil, ErrOmitted }
func (*Cluster) RecordEndpoints(context.Context, map[string]netip.AddrPort) error { return ErrOmitted }
func (*Cluster) Endpoints(context.Context, time.Duration) (map[string]netip.AddrPort, error) {
	return nil, ErrOmitted
}
func (*Cluster) Admit(context.Context, Session, func(acl.Counts) (Decision, error)) (Session, error) {
	return Session{}, ErrOmitted
}
func (*Cluster) SharedKey(context.Context, string) (tunnel.Key, error) {
	return tunnel.Key{}, ErrOmitted
}
func (*Cluster) AdoptSharedKey(context.Context, string, tunnel.Key) (tunnel.Key, error) {
	return tunnel.Key{}, ErrOmitted
}

// Policy is the cluster's policy as text (not in this build).
type Policy struct {
	Name    string
	Text    []byte
	Gateway string
	Updated time.Time
}

// ErrNoPolicy: no gateway has stored a policy yet.
var ErrNoPolicy = errors.New("cluster: no policy stored yet")

func (*Cluster) PutPolicy(context.Context, string, []byte) error { return ErrOmitted }
func (*Cluster) Policy(context.Context) (Policy, error)          { return Policy{}, ErrOmitted }
