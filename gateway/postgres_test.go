//go:build !licgate_omit_postgres

package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store/postgres/pgtest"
)

// TestGatewayOnPostgres: with store.driver postgres the gateway keeps its
// users, devices and audit in PostgreSQL: a device takes a seat, the
// audit records it, and revoke cuts it.
func TestGatewayOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600)
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("store:\n  driver: postgres\n  dsn_file: %s\n", dsnFile)))
	lc := h.AddDevice("alice", "laptop").TakeSeat(t)
	defer lc.Close()
	ctx := context.Background()
	if _, err := h.GW.RevokeDevice(ctx, "alice", "laptop"); err != nil {
		t.Fatal(err)
	}
	if !h.Server.WaitInUse(0, 5*time.Second) {
		t.Fatal("seat not released")
	}
	h.GW.SyncAudit()
	rows, err := h.GW.Store().AuditSessions(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(rows) != 1 || rows[0].EndReason != session.EndRevoked {
		t.Fatalf("audit on postgres: %+v %v", rows, err)
	}
}
