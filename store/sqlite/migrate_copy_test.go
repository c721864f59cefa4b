package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/licgate/licgate/store"
)

// lossy is a backend whose import drops the last device: Copy must notice.
type lossy struct{ *Store }

func (l lossy) Export(ctx context.Context) (*store.Snapshot, error) { return l.Store.Export(ctx) }
func (l lossy) Import(ctx context.Context, s *store.Snapshot) error {
	c := *s
	c.Devices = c.Devices[:len(c.Devices)-1]
	return l.Store.Import(ctx, &c)
}

func TestCopyDetectsLoss(t *testing.T) {
	ctx := context.Background()
	src := openCopy(t, fixtureDB)
	good := open(t, t.TempDir())
	n, err := store.Copy(ctx, good, src)
	if err != nil || n.Devices != 7 || n.Users != 4 {
		t.Fatalf("copy: %+v %v", n, err)
	}
	if _, err := store.Copy(ctx, lossy{open(t, t.TempDir())}, src); err == nil {
		t.Fatal("a copy that lost a device passed")
	}
	if _, err := store.Copy(ctx, good, src); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("copy into a non-empty store: %v", err)
	}
}
