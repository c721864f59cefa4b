package audit

import "context"

type actorKey struct{}

// WithActor records who is acting (an admin's device, the local socket, a
// LAN token holder), for the audit log.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the acting identity in ctx ("local" if none was set).
func ActorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok {
		return a
	}
	return "local"
}
