//go:build !licgate_omit_postgres

package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/acl"
	"github.com/licgate/licgate/cluster"
	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/postgres"
	"github.com/licgate/licgate/store/postgres/pgtest"
	"github.com/licgate/licgate/store/sqlite"
)

// BenchmarkAdmission measures one capped session's durable life in the
// same run on both stores:
//
//	sqlite:          one gateway: the cap is checked in memory, so the
//	                 durable part is the audit start and end (WriteAudit).
//	postgres-audit:  the same audit writes on PostgreSQL.
//	postgres-cluster: cluster.Admit (count + decide + insert under the
//	                 cluster lock), audit start and end, Release.
//
// Each reports admissions/s; -parallel variants use GOMAXPROCS workers.
func BenchmarkAdmission(b *testing.B) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer sq.Close()
	srv := pgtest.StartWith(b, pgtest.Options{Durable: true}) // fsync on, as SQLite's synchronous=FULL
	pg, err := postgres.Open(ctx, srv.NewDatabase(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Close()
	cl, err := cluster.New(cluster.Config{Pool: pg.Pool(), GatewayID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var seq atomic.Int64
	audit := func(be store.Backend) error {
		key := fmt.Sprint("k", seq.Add(1))
		now := time.Now()
		if err := be.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditStart, Key: key, At: now, User: "alice", Device: "pc", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:1", Rule: "rule 0", Reason: "allowed"}}); err != nil {
			return err
		}
		return be.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditEnd, Key: key, At: now, EndReason: "client closed"}})
	}
	allow := func(n acl.Counts) (cluster.Decision, error) {
		if n.ServiceSessions("codemeter") >= 1000 {
			return cluster.Decision{}, errCap
		}
		return cluster.Decision{Rule: 0}, nil
	}
	clustered := func() error {
		s, err := cl.Admit(ctx, cluster.Session{User: "alice", Device: "pc", Service: "codemeter"}, allow)
		if err != nil {
			return err
		}
		if err := audit(pg); err != nil {
			return err
		}
		return cl.Release(ctx, s.ID)
	}
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"sqlite", func() error { return audit(sq) }},
		{"postgres-audit", func() error { return audit(pg) }},
		{"postgres-cluster", clustered},
	} {
		b.Run(c.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := c.fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.fn(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "admissions/s")
		})
	}
}
