package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licgate/licgate/store"
)

// testPendingDevices: a pending device holds its name, key and address
// but is no active device; approve makes it one with that address; deny
// and expiry free everything at once (no quarantine: it never carried
// traffic); the per-user and overall bounds hold.
func testPendingDevices(t *testing.T, b store.Backend) {
	ctx := context.Background()
	must[store.User](t)(b.AddUser(ctx, "alice", ""))
	must[store.User](t)(b.AddUser(ctx, "bob", ""))
	active := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "desk", PublicKey: Key(1)}, Pool))
	until := time.Now().Add(time.Hour)
	p := must[store.Device](t)(b.AddPendingDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(2)}, Pool, 3, 10, until))
	if p.Pending == nil || p.Pending.UnixMilli() != until.UnixMilli() || !p.Address.IsValid() || p.Address == active.Address {
		t.Fatalf("pending device %+v: want Pending %v and its own address", p, until)
	}
	// Not active: no listing, no lookup, no revoke, no expiry change.
	for _, all := range []bool{false, true} {
		if ds := must[[]store.Device](t)(b.Devices(ctx, all)); len(ds) != 1 || ds[0].Name != "desk" {
			t.Fatalf("Devices(all=%v) = %+v, want only desk", all, ds)
		}
	}
	_, err := b.Device(ctx, "alice", "laptop")
	wantErr(t, "Device of a pending device", err, store.ErrNotFound)
	_, err = b.RevokeDevice(ctx, "alice", "laptop")
	wantErr(t, "revoke a pending device", err, store.ErrNotFound)
	wantErr(t, "expiry of a pending device", b.SetDeviceExpiry(ctx, "alice", "laptop", &until), store.ErrNotFound)
	// It holds its name, key and address.
	_, err = b.AddDevice(ctx, store.NewDevice{User: "alice", Name: "laptop", PublicKey: Key(3)}, Pool)
	wantErr(t, "name of a pending device", err, store.ErrExists)
	_, err = b.AddDevice(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: Key(2)}, Pool)
	wantErr(t, "key of a pending device", err, store.ErrExists)
	other := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "bob", Name: "pc", PublicKey: Key(4)}, Pool))
	if other.Address == p.Address {
		t.Fatalf("bob's device got the pending device's address %v", p.Address)
	}
	ps := must[[]store.Device](t)(b.PendingDevices(ctx))
	if len(ps) != 1 || ps[0].Name != "laptop" || ps[0].Address != p.Address || ps[0].Pending == nil || ps[0].Pending.UnixMilli() != until.UnixMilli() {
		t.Fatalf("PendingDevices = %+v, want alice/laptop at %v", ps, p.Address)
	}

	// Approve: active with the reserved address; no longer pending.
	d := must[store.Device](t)(b.ApproveDevice(ctx, "alice", "laptop"))
	if d.Pending != nil || d.Address != p.Address {
		t.Fatalf("approved %+v, want active at %v", d, p.Address)
	}
	if got := must[store.Device](t)(b.Device(ctx, "alice", "laptop")); got.Address != p.Address || got.Pending != nil || got.PublicKey != Key(2) {
		t.Fatalf("after approval Device = %+v", got)
	}
	_, err = b.ApproveDevice(ctx, "alice", "laptop")
	wantErr(t, "approve twice", err, store.ErrNotFound)
	_, err = b.DenyDevice(ctx, "alice", "laptop")
	wantErr(t, "deny an active device", err, store.ErrNotFound)
	if ps := must[[]store.Device](t)(b.PendingDevices(ctx)); len(ps) != 0 {
		t.Fatalf("pending after approval: %+v", ps)
	}

	// Deny: the row goes; name, key and address are free at once.
	q := must[store.Device](t)(b.AddPendingDevice(ctx, store.NewDevice{User: "bob", Name: "tablet", PublicKey: Key(5)}, Pool, 3, 10, until))
	den := must[store.Device](t)(b.DenyDevice(ctx, "bob", "tablet"))
	if den.Address != q.Address {
		t.Fatalf("denied %+v, want %v", den, q.Address)
	}
	again := must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "bob", Name: "tablet", PublicKey: Key(5)}, Pool))
	if again.Address != q.Address {
		t.Fatalf("after deny the lowest free address is %v, got %v (a denied request's address must not be quarantined)", q.Address, again.Address)
	}
	_, err = b.DenyDevice(ctx, "bob", "nothing")
	wantErr(t, "deny unknown", err, store.ErrNotFound)
	for _, all := range []bool{false, true} {
		for _, d := range must[[]store.Device](t)(b.Devices(ctx, all)) {
			if d.Revoked != nil {
				t.Fatalf("Devices(all=%v) has a revoked %s/%s: a denial is not a revocation", all, d.User, d.Name)
			}
		}
	}

	// Expiry: an ended request cannot be approved and ExpirePending
	// removes it (and only it).
	past := time.Now().Add(-time.Second)
	must[store.Device](t)(b.AddPendingDevice(ctx, store.NewDevice{User: "bob", Name: "old", PublicKey: Key(6)}, Pool, 5, 10, past))
	must[store.Device](t)(b.AddPendingDevice(ctx, store.NewDevice{User: "bob", Name: "new", PublicKey: Key(7)}, Pool, 5, 10, until))
	_, err = b.ApproveDevice(ctx, "bob", "old")
	wantErr(t, "approve an ended request", err, store.ErrExpired)
	gone := must[[]store.Device](t)(b.ExpirePending(ctx))
	if len(gone) != 1 || gone[0].Name != "old" {
		t.Fatalf("ExpirePending = %+v, want bob/old", gone)
	}
	if ps := must[[]store.Device](t)(b.PendingDevices(ctx)); len(ps) != 1 || ps[0].Name != "new" {
		t.Fatalf("pending after expiry: %+v, want bob/new", ps)
	}
	if gone := must[[]store.Device](t)(b.ExpirePending(ctx)); len(gone) != 0 {
		t.Fatalf("second ExpirePending = %+v", gone)
	}
	must[store.Device](t)(b.AddDevice(ctx, store.NewDevice{User: "bob", Name: "old", PublicKey: Key(6)}, Pool))

	// Bounds: the user's devices count pending ones; all users together
	// hold at most maxPending.
	_, err = b.AddPendingDevice(ctx, store.NewDevice{User: "alice", Name: "x", PublicKey: Key(8)}, Pool, 2, 10, until)
	wantErr(t, "alice at her limit of 2 (desk, laptop)", err, store.ErrLimit)
	_, err = b.AddPendingDevice(ctx, store.NewDevice{User: "alice", Name: "x", PublicKey: Key(8)}, Pool, 5, 1, until)
	wantErr(t, "one request waits already, at most 1", err, store.ErrPendingLimit)
	_, err = b.AddPendingDevice(ctx, store.NewDevice{User: "alice", Name: "x", PublicKey: Key(8)}, Pool, 0, 1, until)
	wantErr(t, "limit 0", err, store.ErrInvalid)
}

// testPendingConcurrent: parallel requests never pass the overall bound.
func testPendingConcurrent(t *testing.T, b store.Backend) {
	ctx := context.Background()
	const n, maxPending = 24, 5
	for i := range n {
		must[store.User](t)(b.AddUser(ctx, fmt.Sprintf("u%d", i), ""))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	added, limited := 0, 0
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := b.AddPendingDevice(ctx, store.NewDevice{User: fmt.Sprintf("u%d", i), Name: "pc", PublicKey: Key(i)}, Pool, 3, maxPending, time.Now().Add(time.Hour))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				added++
			case errors.Is(err, store.ErrPendingLimit):
				limited++
			default:
				t.Errorf("request %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if ps := must[[]store.Device](t)(b.PendingDevices(ctx)); added != maxPending || limited != n-maxPending || len(ps) != maxPending {
		t.Fatalf("%d added, %d refused, %d pending; want %d, %d, %d", added, limited, len(ps), maxPending, n-maxPending, maxPending)
	}
}
