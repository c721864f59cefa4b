// Package adminauth authenticates people at the LAN admin listener: the
// bearer token, for scripts (adminapi.TokenAuth, unchanged), and admins
// who sign in with the office's OpenID provider (package signin), who get
// a session with a role:
//
//   - admin: the whole API and console;
//   - readonly (helpdesk): every GET, and POST /api/v1/policy/explain;
//     every other call is refused with 403.
//
// The role comes from groups: the ID token's groups claim, and the licgate
// policy groups (directory groups included) of the one enabled licgate
// user whose stored e-mail is the signed-in address (signin.SameAddress).
// When the provider leaves the groups out (Entra ID's groups overage: more
// than 200 groups), the token's groups are unknown, never "none": only the
// directory's count, and a sign-in they give no role is refused with a
// message that says so.
//
// The session is a cookie (HttpOnly, SameSite=Strict, Secure on TLS)
// holding {id, address, role, expiry}, signed with HMAC-SHA256 under a key
// derived from the sign-in key; nothing is stored on the server, so a
// session ends at its expiry (signin.admin.session) or when the browser
// drops it (sign-out clears it), and a restart does not end it. Requests
// that change something need, besides the cookie and adminapi's
// cross-origin protection, the header X-CSRF-Token with the session's
// token (an HMAC of the session id), which the console reads from GET
// /signin/session. A request with an Authorization header is the token's,
// whatever cookie it carries.
//
// Paths of its own: GET /signin/begin (to the provider), GET
// /signin/callback, GET /signin/session (who, role, expiry, CSRF token),
// POST /signin/logout. Without credentials, GET / and /index.html go to
// /signin/begin; everything else answers 401.
//
// Typical usage (the gateway's LAN listener):
//
//	as, err := cfg.AdminSignin(adminauth.StateKey(stateDir)) // nil without signin.admin
//	h, err := adminauth.LAN(backend, token, as, log, adminapi.Handler(backend, opts))
//	srv := adminapi.NewServer(h, log)
package adminauth
