package signin

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
)

// Refusals. Callback and BeginLogin return errors that wrap exactly one of
// these (test with errors.Is); Message turns them into a sentence for the
// person in front of the browser, Status into an HTTP status.
var (
	// ErrConfig: the Config is unusable (missing issuer, short cookie key...).
	ErrConfig = errors.New("signin: bad config")
	// ErrProviderUnavailable: discovery, the token exchange or the key fetch
	// could not reach the OpenID provider (down, DNS, timeout, 5xx).
	ErrProviderUnavailable = errors.New("signin: provider unavailable")
	// ErrProviderRefused: the provider redirected back with an error
	// parameter; the *ProviderError carries its code.
	ErrProviderRefused = errors.New("signin: provider refused")
	// ErrAccessDenied: the provider's error was access_denied (the user
	// cancelled, or is not assigned to the application). Wrapped together
	// with ErrProviderRefused.
	ErrAccessDenied = errors.New("signin: access denied by provider")
	// ErrStateMismatch: no sign-in cookie for the state parameter, a cookie
	// whose signature does not verify, or a state that differs from it.
	ErrStateMismatch = errors.New("signin: state mismatch")
	// ErrLoginExpired: the sign-in was started longer than LoginTimeout ago.
	ErrLoginExpired = errors.New("signin: sign-in took too long")
	// ErrReplayed: this state was already used by an earlier callback.
	ErrReplayed = errors.New("signin: callback replayed")
	// ErrIssuerMismatch: the callback's iss parameter (RFC 9207) names
	// another issuer: a mix-up attack or a misconfigured redirect URL.
	ErrIssuerMismatch = errors.New("signin: issuer mismatch")
	// ErrBadCallback: no code and no error in the callback.
	ErrBadCallback = errors.New("signin: malformed callback")
	// ErrCodeExchange: the provider refused the authorization code (already
	// used, wrong PKCE verifier, wrong client secret).
	ErrCodeExchange = errors.New("signin: code exchange refused")
	// ErrIDToken: no ID token, or one that fails verification (signature,
	// issuer, audience, expiry).
	ErrIDToken = errors.New("signin: invalid ID token")
	// ErrNonceMismatch: the ID token's nonce is not the one this browser
	// was given.
	ErrNonceMismatch = errors.New("signin: nonce mismatch")
	// ErrNoUserClaim: the claim named by UserClaim is missing or empty.
	ErrNoUserClaim = errors.New("signin: no user claim")
	// ErrEmailNotVerified: the provider says email_verified=false for the
	// address used as user name or for the domain check.
	ErrEmailNotVerified = errors.New("signin: email not verified")
	// ErrDomainNotAllowed: the user's email domain is not in AllowedDomains.
	ErrDomainNotAllowed = errors.New("signin: domain not allowed")
	// ErrNoAuthTime: the sign-in asked for a recent authentication
	// (max_age) and the ID token says nothing of when the person
	// authenticated (no numeric auth_time): the provider ignores max_age
	// (Entra ID: add the optional claim auth_time to the ID token).
	ErrNoAuthTime = errors.New("signin: ID token has no auth_time")
	// ErrReauthRequired: the ID token's auth_time is older than the max_age
	// asked for (the provider reused an earlier session without asking for
	// the password), or lies in the future.
	ErrReauthRequired = errors.New("signin: authentication not recent enough")
	// ErrBadReturnTo: BeginLogin's returnTo is neither a local path nor on
	// an origin listed in ReturnOrigins (open redirect).
	ErrBadReturnTo = errors.New("signin: return address not allowed")
)

// ProviderError is the provider's error redirect (OAuth 2.0 §4.1.2.1).
type ProviderError struct {
	Code        string // error, e.g. access_denied
	Description string // error_description, shown to the user only as detail
}

func (e *ProviderError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("signin: provider returned error %q", e.Code)
	}
	return fmt.Sprintf("signin: provider returned error %q: %s", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrProviderRefused) true for every provider
// error, and errors.Is(err, ErrAccessDenied) for access_denied.
func (e *ProviderError) Is(target error) bool {
	return target == ErrProviderRefused || (target == ErrAccessDenied && e.Code == "access_denied")
}

// Message is the sentence to show the user for err (one of the errors
// above); it never contains token material.
func Message(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrProviderUnavailable):
		return "The sign-in service cannot be reached right now. Try again in a minute; if it keeps failing, tell your administrator."
	case errors.Is(err, ErrAccessDenied):
		return "Sign-in was cancelled, or your account is not allowed to use this application."
	case errors.Is(err, ErrProviderRefused):
		return "The sign-in service refused the request. Tell your administrator."
	case errors.Is(err, ErrDomainNotAllowed):
		return "Your account's domain is not allowed here. Sign in with your work account."
	case errors.Is(err, ErrEmailNotVerified):
		return "Your email address is not verified with the sign-in service."
	case errors.Is(err, ErrNoUserClaim):
		return "The sign-in service did not say who you are. Tell your administrator (user claim missing)."
	case errors.Is(err, ErrReauthRequired):
		return "The sign-in service did not ask for your password again. Sign out at the sign-in service, then start again and sign in with your password."
	case errors.Is(err, ErrNoAuthTime):
		return "The sign-in service did not say when you signed in, so this sign-in cannot unlock anything. Tell your administrator (auth_time missing)."
	case errors.Is(err, ErrLoginExpired):
		return "The sign-in took too long. Start again."
	case errors.Is(err, ErrStateMismatch), errors.Is(err, ErrReplayed), errors.Is(err, ErrBadCallback):
		return "This sign-in link is not valid any more. Start again from the beginning."
	case errors.Is(err, ErrBadReturnTo):
		return "This sign-in link is not valid."
	default:
		return "Sign-in failed. Start again; if it keeps failing, tell your administrator."
	}
}

// Status is the HTTP status for err: 503 when the provider is unavailable,
// 500 for a bad config, 403 for refusals of the person, 400 otherwise.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrProviderUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrConfig):
		return http.StatusInternalServerError
	case errors.Is(err, ErrProviderRefused), errors.Is(err, ErrDomainNotAllowed),
		errors.Is(err, ErrEmailNotVerified), errors.Is(err, ErrNoUserClaim), errors.Is(err, ErrReauthRequired):
		return http.StatusForbidden
	case errors.Is(err, ErrCodeExchange), errors.Is(err, ErrIDToken), errors.Is(err, ErrNonceMismatch), errors.Is(err, ErrNoAuthTime),
		errors.Is(err, ErrIssuerMismatch):
		return http.StatusBadGateway
	default:
		return http.StatusBadRequest
	}
}

var errorPage = template.Must(template.New("e").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p id="signin-error">{{.}}</p></body></html>
`))

// WriteError writes a small HTML page with Message(err) and Status(err).
// Callers with their own page layout use Message and Status instead.
func WriteError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(Status(err))
	_ = errorPage.Execute(w, Message(err))
}
