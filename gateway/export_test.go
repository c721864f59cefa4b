package gateway

import "context"

// ExpireDueForTest runs the enforcement loop's expiry step now.
func ExpireDueForTest(g *Gateway) int { return g.expireDue(context.Background()) }
