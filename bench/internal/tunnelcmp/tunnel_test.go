package tunnelcmp

import (
	"testing"
	"time"

	"github.com/licgate/licgate/config"
)

// TestGatewayYAMLParses holds the in-process gateway's configuration to
// the config parser for every ack_delay the section uses: "" is the
// default (tunnel.ack_delay left out), "0" turns holding ACKs off.
func TestGatewayYAMLParses(t *testing.T) {
	for _, tc := range []struct {
		ackDelay string
		want     time.Duration
	}{
		{"", time.Millisecond},
		{"0", 0},
	} {
		cfg, err := config.Parse("bench.yaml", []byte(gatewayYAML(t.TempDir(), "127.0.0.1:9", tc.ackDelay)))
		if err != nil {
			t.Fatalf("ack_delay %q: %v", tc.ackDelay, err)
		}
		if got := cfg.Tunnel.AckDelay.Duration; got != tc.want {
			t.Errorf("ack_delay %q: tunnel.ack_delay is %s, want %s", tc.ackDelay, got, tc.want)
		}
	}
}
