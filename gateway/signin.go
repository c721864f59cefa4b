package gateway

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/licgate/licgate/signin"
)

// publicURL is the public listener's base URL (with its port unless 443).
// Before the listener is up (or if it failed) the port comes from
// public.listen as configured.
func (g *Gateway) publicURL() string {
	host := g.conf().Public.Name
	listen := g.conf().Public.Listen
	if a := g.PublicAddr(); a != nil {
		listen = a.String()
	}
	if p := g.publicMappedPort(); p != 0 {
		listen = ":" + strconv.Itoa(p) // what the router forwards (issue 22 finding 5)
	}
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "443" && port != "0" {
		host = net.JoinHostPort(host, port)
	}
	return "https://" + host
}

// SignedIn records a sign-in at the public portal (portal.Portal.SignedIn).
func (g *Gateway) SignedIn(ctx context.Context, id signin.Identity, purpose, bind string) (string, time.Time, error) {
	return g.portal.SignedIn(ctx, id, purpose, bind)
}

// UnlockToken is the device token the tunnel portal puts into its
// sign-in link (portal.Portal.UnlockToken).
func (g *Gateway) UnlockToken(user, device string) string { return g.portal.UnlockToken(user, device) }
