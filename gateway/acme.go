package gateway

import (
	"context"
)

// RenewPublicCert renews the public name's certificate now (force: even
// if it is not due).
func (g *Gateway) RenewPublicCert(ctx context.Context, force bool) error {
	return g.certs.RenewPublic(ctx, force)
}
