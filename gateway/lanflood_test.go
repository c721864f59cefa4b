package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

// TestLANConsoleUnderIdleFlood (issue 23, finding 9), through the
// gateway's own LAN listener: after 2,000 idle connections from the
// LAN, the console with the right token answers within 5 s (it timed out
// for 15 s), and a license seat is unaffected.
func TestLANConsoleUnderIdleFlood(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	token := "a-long-random-token-for-the-lan-listener"
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	h := gatewaytest.New(t, gatewaytest.TopLevel(fmt.Sprintf("admin:\n  lan_listen: 127.0.0.1:0\n  token_file: %s\n", tokenFile)))
	lan := h.GW.LANAddr().String()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 2000 {
		c, err := net.DialTimeout("tcp", lan, 5*time.Second)
		if err != nil {
			t.Fatalf("flood: %v", err)
		}
		idle = append(idle, c)
	}
	c := httpsVia(t, h, func(ctx context.Context, network, _ string) (netConn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, lan)
	})
	c.Timeout = 5 * time.Second
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://10.44.0.1/api/v1/health", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("console with the right token after 2,000 idle connections: after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d %s", resp.StatusCode, body)
	}
	h.AddDevice("alice", "pc").TakeSeat(t).Close()
}
