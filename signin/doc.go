// Package signin is licgate's OpenID Connect relying party: it signs people
// in at an OpenID provider (Entra ID, Google Workspace, Keycloak, Dex...)
// for the enrolment page and for "sign in to unlock", and remembers when
// each user last signed in.
//
// It owns the authorization-code flow with PKCE, the state/nonce cookie,
// and the checks on the result; token verification is go-oidc's (issuer,
// audience, expiry, signature against the provider's published keys), the
// exchange is golang.org/x/oauth2's. Nothing here decides what a signed-in
// user may do: the gateway maps Identity onto its users and policies.
//
// Flow:
//
//	browser --GET /signin/begin--> BeginLogin: cookie {state, nonce, PKCE verifier,
//	                                            purpose, returnTo, bind, max_age} (HMAC-signed), 303 to provider
//	browser <--> provider (login, consent)
//	browser --GET /signin/callback?code&state--> Callback: cookie matches state, state
//	        not used before, code exchanged with verifier, ID token verified, nonce,
//	        auth_time within max_age, user claim, email_verified, allowed domains -> Result
//
// Fresh authentication: for purposes in Config.ReauthPurposes (unlock and
// enroll) BeginLogin sends max_age (Config.Reauth, default 5m) and Callback
// requires the ID token's auth_time within it (ErrNoAuthTime,
// ErrReauthRequired), so a session the browser still holds at the provider
// does not sign anyone in; Identity.At is auth_time.
//
// Identity rule (issue 23, docs/signin.md "Which account is which user"): an
// account is one address, Identity.Address: the email claim only with
// email_verified true (absent is refused), or with PresetEntra the UPN; its
// domain must be in AllowedDomains, which is required. The caller binds it
// to its user whose stored e-mail is SameAddress, never by a name or local
// part. DeviceTokens lets a page that knows the device (the tunnel portal)
// put it into the sign-in link (BeginLoginBound, Result.Bind), so a sign-in
// to unlock unlocks that device only. BeginLogin accepts as returnTo only a
// path on this origin or a URL on ReturnOrigins, after full decoding, with
// no control characters, backslashes, "//" or dot segments.
//
// Typical usage:
//
//	p, err := signin.New(signin.Config{
//		Issuer:           "https://login.microsoftonline.com/<tenant>/v2.0",
//		Preset:           signin.PresetEntra,
//		ClientID:         "…",
//		ClientSecretFile: "/etc/licgate/oidc-secret",
//		RedirectURL:      "https://gw.example.com/signin/callback",
//		AllowedDomains:   []string{"example.com"},
//		CookieKey:        key32,
//	}, logger)
//	sessions := &signin.MemorySessions{}
//	mux.HandleFunc("GET /signin/begin", func(w http.ResponseWriter, r *http.Request) {
//		if err := p.BeginLogin(w, r, "unlock", r.FormValue("return")); err != nil {
//			signin.WriteError(w, err)
//		}
//	})
//	mux.HandleFunc("GET /signin/callback", func(w http.ResponseWriter, r *http.Request) {
//		res, err := p.Callback(w, r)
//		if err != nil {
//			signin.WriteError(w, err)
//			return
//		}
//		sessions.Record(r.Context(), signin.SignIn{User: res.Identity.Address, Groups: res.Identity.Groups,
//			Purpose: res.Purpose, At: res.Identity.At})
//		http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
//	})
//	// later, for a "signin: 12h" rule:
//	ok, err := signin.SignedInWithin(ctx, sessions, user, 12*time.Hour, time.Now())
//
// Package signintest starts a real OpenID provider (node-oidc-provider) and
// a headless Chromium for tests.
package signin
