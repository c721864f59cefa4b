package enroll

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/licgate/licgate/signin"
	"github.com/licgate/licgate/tunnel"
)

// SignInProvider is the OpenID Connect relying party (package signin).
type SignInProvider interface {
	BeginLoginBound(w http.ResponseWriter, r *http.Request, purpose, returnTo, bind string) error
	Callback(w http.ResponseWriter, r *http.Request) (signin.Result, error)
}

// SignInBackend is what sign-in asks of the gateway.
type SignInBackend interface {
	// SignedIn records a sign-in (purpose "unlock" or "enroll") and
	// returns the licgate user it belongs to and until when rules with a
	// signin window are unlocked. bind is the device token from the tunnel
	// portal's link (the "device" parameter of /signin/begin), "" if none.
	// An error refuses the person; ErrNeedDevice asks them to start from
	// the portal of the device to unlock.
	SignedIn(ctx context.Context, id signin.Identity, purpose, bind string) (user string, until time.Time, err error)
	// EnrolSignedIn creates device for the signed-in user (a key pair, or
	// their own canonical publicKey), within their device limit
	// (ErrDeviceLimit), atomically: concurrent calls never exceed it.
	// signedIn is when the person signed in: the new device counts as
	// unlocked from then.
	EnrolSignedIn(ctx context.Context, user, device, publicKey string, signedIn time.Time) (Result, error)
}

// Sign-in purposes.
const (
	PurposeEnroll = "enroll"
	PurposeUnlock = "unlock"
)

// ErrDeviceLimit: the user has as many devices as sign-in enrolment allows.
var ErrDeviceLimit = errors.New("enroll: device limit reached")

// ErrTooManyPending: as many devices wait for an admin's approval as the
// gateway holds (signin.enrol.max_pending); the person tries later.
var ErrTooManyPending = errors.New("enroll: too many devices wait for approval")

// ErrNeedDevice: an unlock sign-in without a valid device link from the
// tunnel portal, where a sign-in unlocks only the device it was made from.
var ErrNeedDevice = errors.New("enroll: sign-in to unlock needs the link of the device's portal")

type ticket struct {
	user     string
	signedIn time.Time
	until    time.Time
}

// WithSignIn adds the sign-in pages: GET /signin/begin?purpose=enroll|unlock
// [&return=URL], GET /signin/callback, and POST /signin/enrol (the device
// form shown after an enrolment sign-in). enrol says whether sign-in may
// enrol devices.
func (s *Server) WithSignIn(p SignInProvider, b SignInBackend, enrol bool) *Server {
	s.signin, s.signinBackend, s.signinEnrol = p, b, enrol
	s.tickets, _ = lru.New[string, ticket](1000)
	return s
}

func (s *Server) signinRoutes(mux *http.ServeMux, limited func(func(http.ResponseWriter, *http.Request, netip.AddrPort)) http.HandlerFunc) {
	if s.signin == nil {
		return
	}
	mux.HandleFunc("GET /signin/begin", limited(s.serveSigninBegin))
	mux.HandleFunc("GET /signin/callback", limited(s.serveSigninCallback))
	mux.HandleFunc("POST /signin/enrol", limited(s.serveSigninEnrol))
}

func (s *Server) serveSigninBegin(w http.ResponseWriter, r *http.Request, _ netip.AddrPort) {
	purpose := r.URL.Query().Get("purpose")
	switch purpose {
	case PurposeUnlock:
	case PurposeEnroll, "":
		purpose = PurposeEnroll
		if !s.signinEnrol {
			page(w, http.StatusNotFound, map[string]any{"Error": "Enrolment by sign-in is not enabled here: ask IT for an enrolment link."})
			return
		}
	default:
		http.Error(w, "unknown purpose", http.StatusBadRequest)
		return
	}
	bind := ""
	if purpose == PurposeUnlock {
		bind = r.URL.Query().Get("device")
	}
	if err := s.signin.BeginLoginBound(w, r, purpose, r.URL.Query().Get("return"), bind); err != nil {
		signin.WriteError(w, err)
	}
}

func (s *Server) serveSigninCallback(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	res, err := s.signin.Callback(w, r)
	if err != nil {
		s.log.Info("sign-in refused", slog.String("source", src.String()), slog.String("err", err.Error()))
		signin.WriteError(w, err)
		return
	}
	user, until, err := s.signinBackend.SignedIn(r.Context(), res.Identity, res.Purpose, res.Bind)
	if err != nil {
		s.log.Info("sign-in refused", slog.String("who", res.Identity.User), slog.String("address", res.Identity.Address),
			slog.String("source", src.String()), slog.String("err", err.Error()))
		msg := "You signed in as " + res.Identity.User + ", but licgate has no access for you: ask IT."
		if errors.Is(err, ErrNeedDevice) {
			msg = "Sign in from the link on the licgate portal of the computer you want to unlock (open the portal while its tunnel is on, then press Sign in there)."
		}
		page(w, http.StatusForbidden, map[string]any{"Error": msg})
		return
	}
	if res.Purpose == PurposeUnlock {
		if res.ReturnTo != "" && res.ReturnTo != "/" { // "/": the provider's default, no page to go back to
			http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
			return
		}
		page(w, http.StatusOK, map[string]any{"Unlocked": true, "User": user, "Until": until.Format(time.RFC1123)})
		return
	}
	t := s.newTicket(ticket{user: user, signedIn: res.Identity.At, until: time.Now().Add(10 * time.Minute)})
	page(w, http.StatusOK, map[string]any{"SigninChoice": true, "User": user, "Ticket": t})
}

func (s *Server) serveSigninEnrol(w http.ResponseWriter, r *http.Request, src netip.AddrPort) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	t := r.PostForm.Get("ticket")
	tk, ok := s.tickets.Get(t)
	if !ok || time.Now().After(tk.until) {
		page(w, http.StatusGone, map[string]any{"Error": "This page has expired: sign in again."})
		return
	}
	device := strings.TrimSpace(r.PostForm.Get("device"))
	again := map[string]any{"SigninChoice": true, "User": tk.user, "Ticket": t}
	if !deviceNameRE.MatchString(device) {
		again["Error"] = "Name the device with lowercase letters, digits, '.', '_' or '-' (like laptop or home-pc)."
		page(w, http.StatusBadRequest, again)
		return
	}
	own := ""
	if r.PostForm.Get("action") == "own" {
		k, err := tunnel.ParsePublicKey(strings.TrimSpace(r.PostForm.Get("public_key")))
		if err != nil {
			again["Error"] = "That is not a WireGuard public key (44 characters of base64, ending in =)."
			page(w, http.StatusBadRequest, again)
			return
		}
		own = k.String()
	}
	// The ticket is used up before the device is made (issue 23): of
	// parallel posts of one ticket exactly one gets here. A refusal the
	// person can fix hands out a fresh ticket with the form.
	if !s.takeTicket(t) {
		page(w, http.StatusGone, map[string]any{"Error": "This page was used already: sign in again for another device."})
		return
	}
	retry := func() {
		nt := s.newTicket(ticket{user: tk.user, signedIn: tk.signedIn, until: tk.until})
		again["Ticket"] = nt
	}
	res, err := s.signinBackend.EnrolSignedIn(r.Context(), tk.user, device, own, tk.signedIn)
	switch {
	case errors.Is(err, ErrDeviceLimit):
		page(w, http.StatusForbidden, map[string]any{"Error": "You have as many devices as you may enrol yourself: ask IT to remove an old one."})
		return
	case errors.Is(err, ErrTooManyPending):
		page(w, http.StatusServiceUnavailable, map[string]any{"Error": "Many new devices wait for IT's approval just now: try again later, or ask IT."})
		return
	case errors.Is(err, ErrBadKey):
		retry()
		again["Error"] = "That key cannot be used (it is another device's key)."
		page(w, http.StatusBadRequest, again)
		return
	case err != nil:
		if strings.Contains(err.Error(), "exists") {
			retry()
			again["Error"] = "You already have a device with that name: choose another."
			page(w, http.StatusConflict, again)
			return
		}
		s.refuse(w, src, err)
		return
	}
	s.showResult(w, src, t, res)
}

// newTicket stores tk under a fresh random ticket and returns it.
func (s *Server) newTicket(tk ticket) string {
	b := make([]byte, 32)
	rand.Read(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	s.tickets.Add(t, tk)
	return t
}

// takeTicket removes ticket t; true for exactly one caller of a ticket
// that was there (the cache's Remove is atomic and says if it removed).
func (s *Server) takeTicket(t string) bool { return s.tickets.Remove(t) }
