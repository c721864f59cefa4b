package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/bolt"
	"github.com/licgate/licgate/store/sqlite"
	"github.com/licgate/licgate/store/storetest"
)

// TestCopyKeepsPendingDevices: licgate store migrate (store.Copy) carries
// a pending device across backends as pending, with its request's end
// and reserved address, SQLite -> bbolt -> SQLite.
func TestCopyKeepsPendingDevices(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.AddUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	p, err := src.AddPendingDevice(ctx, store.NewDevice{User: "alice", Name: "pc", PublicKey: storetest.Key(1)}, storetest.Pool, 3, 10, until)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := bolt.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer mid.Close()
	dst, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := store.Copy(ctx, mid, src); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Copy(ctx, dst, mid); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]store.Backend{"bolt": mid, "sqlite": dst} {
		ps, err := b.PendingDevices(ctx)
		if err != nil || len(ps) != 1 || ps[0].Address != p.Address || ps[0].Pending == nil || ps[0].Pending.UnixMilli() != until.UnixMilli() {
			t.Fatalf("%s: pending after copy %+v %v, want alice/pc at %v until %v", name, ps, err, p.Address, until)
		}
		if ds, _ := b.Devices(ctx, true); len(ds) != 0 {
			t.Fatalf("%s: the pending device became active in the copy: %+v", name, ds)
		}
	}
}
