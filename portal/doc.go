// Package portal is the tunnel portal (https://<tunnel address>/portal:
// which device this is, and the sign-in link that unlocks it for rules
// with a signin window) and sign-in enrolment on the public listener:
// mapping a signed-in person to a licgate user, unlocking a device with
// the portal's device token, and letting people add their own devices
// within a limit.
//
// Typical usage:
//
//	p := portal.New(portal.Deps{Store: st, Identities: ids, SignIns: adm, Audit: w, Settings: settings, ...})
//	mux.Handle("GET /portal", p)
//	rp, err := p.Provider()            // the OpenID Connect relying party
//	es.WithSignIn(rp, p, enrolEnabled) // enroll.SignInBackend
package portal
