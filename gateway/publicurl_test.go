package gateway

import (
	"net"
	"testing"

	"github.com/licgate/licgate/config"
)

// TestPublicURLBeforeTheListener: a link or sign-in URL made before the
// public listener is up (or after it failed) takes the port from the config
// instead of dereferencing a missing listener.
func TestPublicURLBeforeTheListener(t *testing.T) {
	for _, c := range []struct{ listen, want string }{
		{":8443", "https://office.example.test:8443"},
		{":443", "https://office.example.test"},
		{"127.0.0.1:0", "https://office.example.test"},
	} {
		g := &Gateway{}
		cfg := &config.Config{}
		cfg.Public.Name, cfg.Public.Listen = "office.example.test", c.listen
		g.cfg.Store(cfg)
		if got := g.publicURL(); got != c.want {
			t.Errorf("listen %q, no listener: %q, want %q", c.listen, got, c.want)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := &Gateway{publicLn: ln}
	cfg := &config.Config{}
	cfg.Public.Name, cfg.Public.Listen = "office.example.test", "127.0.0.1:0"
	g.cfg.Store(cfg)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if got, want := g.publicURL(), "https://office.example.test:"+port; got != want {
		t.Errorf("with the listener: %q, want %q", got, want)
	}
}
