package sqlite

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
)

// The benchmarks measure one durable write each (WAL, synchronous=FULL):
// what an admin's "add device" or the audit writer's flush of one record
// costs on this disk.

func BenchmarkAddDevice(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.AddUser(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	big := store.Pool{Subnet: netip.MustParsePrefix("10.0.0.0/8")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.AddDevice(ctx, store.NewDevice{User: "bench", Name: fmt.Sprintf("d%d", i), PublicKey: testKey(i)}, big); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteAudit(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	at := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := s.WriteAudit(ctx, []store.AuditRecord{{Kind: store.AuditDenial, At: at, User: "eve", Device: "pc", Service: "codemeter",
			Proto: "tcp", Client: "10.44.0.9:1", Rule: "default", Reason: "no rule"}})
		if err != nil {
			b.Fatal(err)
		}
	}
}
