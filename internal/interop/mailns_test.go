package interop

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/internal/testnet"
	"github.com/licgate/licgate/mail/mailtest"
	"github.com/licgate/licgate/portmap/portmaptest"
)

// nsMailpit is Mailpit running inside a network namespace (mailtest's
// runs on the host's loopback, which a daemon in a namespace cannot
// reach): SMTP on 127.0.0.1:1025 and its API on 127.0.0.1:8025 there,
// read through sockets opened in the namespace.
type nsMailpit struct {
	SMTPPort int
	api      *http.Client
	done     chan struct{}
}

func startNSMailpit(t *testing.T, ns *netnstest.NS) *nsMailpit {
	t.Helper()
	bin := mailtest.Binary()
	if bin == "" {
		testnet.Missing(t, "mailpit not installed: go install github.com/axllent/mailpit@v1.33.1")
	}
	dir := t.TempDir()
	cmd := ns.Cmd(bin, "--smtp", "127.0.0.1:1025", "--listen", "127.0.0.1:8025",
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns", "--quiet")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &nsMailpit{SMTPPort: 1025, done: make(chan struct{}),
		api: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: portmaptest.Dial(ns)}}}
	go func(c *exec.Cmd) { c.Wait(); close(m.done) }(cmd)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-m.done
		if t.Failed() {
			t.Logf("mailpit log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := m.api.Get("http://127.0.0.1:8025/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
		select {
		case <-m.done:
			t.Fatalf("mailpit exited at start:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond): // polling an external process's port
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit not ready after 20s")
		}
	}
}

// Messages returns the delivered messages, oldest first, raw.
func (m *nsMailpit) Messages(t *testing.T) [][]byte {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	if err := json.Unmarshal(m.get(t, "/api/v1/messages"), &list); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := len(list.Messages) - 1; i >= 0; i-- {
		out = append(out, m.get(t, "/api/v1/message/"+list.Messages[i].ID+"/raw"))
	}
	return out
}

func (m *nsMailpit) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := m.api.Get("http://127.0.0.1:8025" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("mailpit %s: %v %s: %s", path, err, resp.Status, b)
	}
	return b
}

// nsHTTPClient is an HTTP client whose connections start in ns.
func nsHTTPClient(ns *netnstest.NS, tr *http.Transport) *http.Client {
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return portmaptest.Dial(ns)(ctx, network, addr)
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}
