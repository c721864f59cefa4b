//go:build !licgate_store_bolt

package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/licgate/licgate/gateway/gatewaytest"
	"github.com/licgate/licgate/store/sqlite"
)

// TestBadEmailsRefusedAndPrintedSafely (issue 23, finding 8): `licgate
// user import` refuses a CSV with a bad address before adding anyone,
// naming the line and the problem; `user add` refuses one; and
// `licgate invite` never prints a bad address that an older version
// stored (CR/LF in it would forge output lines), but leaves the user out
// with the address quoted.
func TestBadEmailsRefusedAndPrintedSafely(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.TopLevel("public:\n  listen: 127.0.0.1:0\n  name: office.example.test\n  acme: {directory: \"off\"}\n"))
	sock := "-socket=" + h.Config.Socket
	csvIn := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csvIn, []byte("name,email\ncarol,carol@example.test\nmallory,\"=HYPERLINK(\"\"http://evil.example\"\")@x.example\"\n"), 0o600)
	out, code := cli(t, "user", "import", csvIn, sock)
	if code == 0 || !strings.Contains(out, "users.csv:3") || !strings.Contains(out, "starts with '='") {
		t.Fatalf("import with a formula address: %d %s", code, out)
	}
	if out, _ := cli(t, "user", "list", sock); strings.Contains(out, "carol") {
		t.Fatalf("import added carol before refusing line 3:\n%s", out)
	}
	out, code = cli(t, "user", "add", "eve", "--email", "Eve <eve@example.test>", sock)
	if code == 0 || !strings.Contains(out, "display name") {
		t.Fatalf("user add with a display name: %d %s", code, out)
	}

	// A database from before the rule holds an address with CR/LF.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.Config.StateDir, sqlite.FileName)+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const forged = "dave@example.test\r\nmallory\tmallory@evil.example\thttps://evil.example/enroll/x"
	if _, err := db.Exec(`INSERT INTO users(name, email, created_at) VALUES ('dave', ?, ?)`, forged, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	out, _ = cli(t, "invite", "dave", "-c", h.ConfigPath, sock)
	if strings.Contains(out, "\r") || strings.Contains(out, "\nmallory") || !strings.Contains(out, fmt.Sprintf("%q", forged)) {
		t.Fatalf("invite printed the stored address raw:\n%s", out)
	}
	if !strings.Contains(out, "dave: left out") || !strings.Contains(out, "line break") {
		t.Fatalf("invite: %s", out)
	}
}
