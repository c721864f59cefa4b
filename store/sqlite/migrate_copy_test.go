//go:build !licgate_store_bolt

package store

import (
	"context"
	"errors"
	"testing"
)

// lossy is a backend whose import drops the last device: Copy must notice.
type lossy struct{ *Store }

func (l lossy) Export(ctx context.Context) (*Snapshot, error) { return l.Store.export(ctx) }
func (l lossy) Import(ctx context.Context, s *Snapshot) error {
	c := *s
	c.Devices = c.Devices[:len(c.Devices)-1]
	return l.Store.importSnapshot(ctx, &c)
}

func TestCopyDetectsLoss(t *testing.T) {
	ctx := context.Background()
	src := openCopy(t, fixtureDB)
	good := open(t, t.TempDir())
	n, err := Copy(ctx, good, src)
	if err != nil || n.Devices != 7 || n.Users != 4 {
		t.Fatalf("copy: %+v %v", n, err)
	}
	if _, err := Copy(ctx, lossy{open(t, t.TempDir())}, src); err == nil {
		t.Fatal("a copy that lost a device passed")
	}
	if _, err := Copy(ctx, good, src); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("copy into a non-empty store: %v", err)
	}
}
