package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/licgate/licgate/internal/boundedfile"
	"github.com/licgate/licgate/internal/secretfile"
)

// Sync errors, wrapped with the DN, attribute or address concerned.
var (
	ErrPasswordFile     = errors.New("directory: cannot read password file")
	ErrUnreachable      = errors.New("directory: server unreachable")
	ErrTLS              = errors.New("directory: TLS failed")
	ErrBind             = errors.New("directory: bind refused")
	ErrSearch           = errors.New("directory: search failed")
	ErrSizeLimit        = errors.New("directory: server size limit exceeded")
	ErrTooManyEntries   = errors.New("directory: more entries than max_entries")
	ErrMissingAttribute = errors.New("directory: entry lacks a required attribute")
	ErrDuplicateUser    = errors.New("directory: two entries have the same user name")
	ErrSuspicious       = errors.New("directory: snapshot refused as suspicious")
)

// User is one directory account.
type User struct {
	DN    string
	Name  string // value of UserNameAttribute, as the directory spells it
	Email string // empty when the entry has none
	// Disabled is true when the entry matches DisabledFilter.
	Disabled bool
	// Groups are the names (GroupNameAttribute) of the groups the user is
	// in, directly or through nested groups; sorted, no duplicates.
	Groups []string
}

// Snapshot is the directory as one sync saw it.
type Snapshot struct {
	Time   time.Time
	Users  []User   // sorted by Name
	Groups []string // names of all groups GroupFilter selected; sorted
}

// User returns the user whose name equals name, ignoring case.
func (s Snapshot) User(name string) (User, bool) {
	for _, u := range s.Users {
		if strings.EqualFold(u.Name, name) {
			return u, true
		}
	}
	return User{}, false
}

// Status is the health of the sync, for /status pages and metrics.
type Status struct {
	LastAttempt time.Time
	LastSuccess time.Time // zero until a sync succeeds
	LastError   error     // nil when the last attempt succeeded
	Users       int       // in the last good snapshot
	Groups      int
	// Stale is true when no sync has succeeded yet or the last attempt
	// failed: the snapshot in use is older than it should be.
	Stale bool
	// Held is the last snapshot the safeguard refused (ErrSuspicious),
	// waiting for Accept; nil when none. A later sync within the limits
	// drops it.
	Held *Held
}

// Syncer reads users and groups from one directory. Its methods may be
// called from several goroutines; syncs run one at a time.
type Syncer struct {
	cfg Config // resolved
	log *slog.Logger

	// Dial opens the TCP connection. If nil, a net.Dialer. Set it before
	// the first Sync.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now returns the time. If nil, time.Now.
	Now func() time.Time
	// Relevant reports whether losing group (a directory group name)
	// takes rights away, so that it counts against MaxChange: the
	// gateway says which groups its policy uses. If nil, every group.
	// Set it before the first Sync; it is called during syncs.
	Relevant func(group string) bool

	syncMu    sync.Mutex // one sync at a time
	trigger   chan struct{}
	acceptReq chan chan acceptResult

	mu     sync.Mutex
	last   Snapshot
	have   bool
	status Status
	held   *Held // refused by the safeguard, waiting for Accept
}

// New returns a Syncer for cfg; it does not contact the directory. cfg
// should have passed Validate. A nil logger discards.
func New(cfg Config, logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg.resolved(), log: logger, trigger: make(chan struct{}, 1),
		acceptReq: make(chan chan acceptResult)}
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Status reports the last attempt and the last good snapshot's size.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Stale = !s.have || st.LastError != nil
	if s.held != nil {
		h := *s.held
		h.Names = slices.Clone(h.Names)
		h.snap = Snapshot{}
		st.Held = &h
	}
	return st
}

// Last returns the last good snapshot; false before the first success.
func (s *Syncer) Last() (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.have
}

// SyncNow asks a running Run loop to sync at once (an admin pressed
// "sync now", or a login failed for an unknown user). It never blocks;
// requests made while one is pending collapse into one.
func (s *Syncer) SyncNow() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run syncs at once, then every interval (if zero, 5 minutes) and on
// SyncNow, until ctx ends. After a failure it retries sooner: 10s, then
// doubling up to interval. onSnapshot, if not nil, gets every snapshot
// that was accepted (by a sync, or by Accept), on Run's goroutine;
// failures are logged and visible in Status, and the last good snapshot
// stays in use.
func (s *Syncer) Run(ctx context.Context, interval time.Duration, onSnapshot func(Snapshot)) {
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	const firstRetry = 10 * time.Second
	retry := min(firstRetry, interval)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.trigger:
		case reply := <-s.acceptReq:
			h, err := s.acceptHeld()
			if err == nil && onSnapshot != nil {
				onSnapshot(h.snap)
			}
			h.snap = Snapshot{}
			reply <- acceptResult{h, err}
			continue
		}
		snap, err := s.Sync(ctx)
		if err != nil {
			t.Reset(retry)
			retry = min(2*retry, interval)
			continue
		}
		retry = min(firstRetry, interval)
		if onSnapshot != nil {
			onSnapshot(snap)
		}
		t.Reset(interval)
	}
}

// Sync reads the directory once. On success the snapshot becomes the
// last good one and is returned. On any failure, including a snapshot
// refused as suspicious (ErrSuspicious), it returns the error and a zero
// Snapshot, and the last good snapshot stays (see Last); Status then says
// Stale.
func (s *Syncer) Sync(ctx context.Context) (Snapshot, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	start := s.now()
	snap, err := s.fetch(ctx)
	var held *Held
	if err == nil {
		snap.Time = start
		held, err = s.check(snap)
	}
	s.mu.Lock()
	s.status.LastAttempt = start
	s.status.LastError = err
	switch {
	case err == nil:
		s.last, s.have = snap, true
		s.held = nil
		s.status.LastSuccess = start
		s.status.Users, s.status.Groups = len(snap.Users), len(snap.Groups)
	case held != nil:
		s.held = held // replaces an older held one; a failed read keeps it
	}
	s.mu.Unlock()
	if held != nil {
		s.log.Error("directory snapshot held back, keeping the last good one (licgate directory accept puts it in force)",
			slog.Int("affected", held.Affected), slog.Int("of", held.Last), slog.Int("limit", held.Limit),
			slog.Int("removed", held.Removed), slog.Int("disabled", held.Disabled), slog.Int("ungrouped", held.Ungrouped),
			slog.String("users", strings.Join(held.Names, ",")), slog.Any("err", err))
		return Snapshot{}, err
	}
	if err != nil {
		s.log.Warn("directory sync failed, keeping last snapshot", slog.String("url", s.cfg.URL), slog.Any("err", err))
		return Snapshot{}, err
	}
	s.log.Info("directory synced", slog.Int("users", len(snap.Users)), slog.Int("groups", len(snap.Groups)),
		slog.Duration("took", s.now().Sub(start)))
	return snap, nil
}

func (s *Syncer) password() (string, error) {
	if s.cfg.BindDN == "" {
		return "", nil
	}
	pw, err := secretfile.Read(s.cfg.PasswordFile) // never empty: that would be an unauthenticated bind
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPasswordFile, err)
	}
	return pw, nil
}

func (s *Syncer) tlsConfig(addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.cfg.ServerName != "" {
		tc.ServerName = s.cfg.ServerName
	}
	if s.cfg.CAFile != "" {
		data, err := boundedfile.Read(s.cfg.CAFile, boundedfile.PEM)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %w", ErrTLS, err)
		}
		pool, err := caPool(data)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file %s: %w", ErrTLS, s.cfg.CAFile, err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// caPool is AppendCertsFromPEM that says why it found nothing: Samba's
// self-signed CA, for one, is a PEM certificate that crypto/x509 refuses
// to parse (a negative serial number). Certificates that do not parse
// are skipped when others do, as in a system bundle.
func caPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	var n, ok int
	var first error
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("certificate %d: %w", n, err)
			}
			continue
		}
		pool.AddCert(cert)
		ok++
	}
	switch {
	case n == 0:
		return nil, errors.New("holds no PEM certificate")
	case ok == 0:
		return nil, fmt.Errorf("holds no certificate that Go can use: %w", first)
	}
	return pool, nil
}

// connect dials, secures and binds. The connection closes when ctx ends.
func (s *Syncer) connect(ctx context.Context) (*ldap.Conn, error) {
	addr, implicitTLS, err := parseURL(s.cfg.URL)
	if err != nil {
		return nil, err
	}
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	tc, err := s.tlsConfig(addr)
	if err != nil {
		return nil, err
	}
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
	}
	if implicitTLS {
		tconn := tls.Client(raw, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("%w: ldaps %s: %w", ErrTLS, addr, err)
		}
		raw = tconn
	}
	l := ldap.NewConn(raw, implicitTLS)
	l.Start()
	// Searches do not take a context: closing the connection is what
	// ends one when ctx does. Close is safe twice.
	context.AfterFunc(ctx, func() { l.Close() })
	if dl, ok := ctx.Deadline(); ok {
		l.SetTimeout(time.Until(dl))
	}
	if !implicitTLS {
		if err := l.StartTLS(tc); err != nil {
			l.Close()
			return nil, fmt.Errorf("%w: StartTLS with %s: %w", ErrTLS, addr, err)
		}
	}
	if s.cfg.BindDN != "" {
		if err := l.Bind(s.cfg.BindDN, pw); err != nil {
			l.Close()
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, fmt.Errorf("%w: wrong password or unknown bind_dn %q (see password_file %s): %w", ErrBind, s.cfg.BindDN, s.cfg.PasswordFile, err)
			}
			return nil, fmt.Errorf("%w: as %q: %w", ErrBind, s.cfg.BindDN, err)
		}
	}
	return l, nil
}

// search runs one paged subtree search and returns all entries, or an
// error once more than MaxEntries arrived.
func (s *Syncer) search(ctx context.Context, l *ldap.Conn, what, base, filter string, attrs []string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	paging := ldap.NewControlPaging(uint32(s.cfg.PageSize))
	req.Controls = []ldap.Control{paging}
	var out []*ldap.Entry
	for {
		res, err := l.Search(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %s under %q: %w", ErrSearch, what, base, context.Cause(ctx))
			}
			got := len(out)
			if res != nil {
				got += len(res.Entries)
			}
			switch {
			case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
				return nil, fmt.Errorf("%w: %s under %q with %s stopped after %d entries; raise the server's limit for the bind account or narrow the filter: %w",
					ErrSizeLimit, what, base, filter, got, err)
			case ldap.IsErrorWithCode(err, ldap.ErrorNetwork):
				return nil, fmt.Errorf("%w: %s under %q: %w", ErrUnreachable, what, base, err)
			}
			return nil, fmt.Errorf("%w: %s under %q with %s: %w", ErrSearch, what, base, filter, err)
		}
		out = append(out, res.Entries...)
		if len(out) > s.cfg.MaxEntries {
			return nil, fmt.Errorf("%w: %s under %q with %s: more than %d", ErrTooManyEntries, what, base, filter, s.cfg.MaxEntries)
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return out, nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// normDN is the comparison key of a DN: attribute types and values
// folded, spacing normalized.
func normDN(dn string) (string, error) {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return "", err
	}
	return strings.ToLower(d.String()), nil
}

type group struct {
	dn, name string
	up       []string // keys of the groups this one is a direct member of
}

// fetch does one full read of the directory.
func (s *Syncer) fetch(ctx context.Context) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	l, err := s.connect(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	defer l.Close()
	c := s.cfg

	// Groups first: their keys resolve memberOf values and member lists.
	gents, err := s.search(ctx, l, "groups", c.GroupBaseDN, c.GroupFilter, c.groupAttributes())
	if err != nil {
		return Snapshot{}, err
	}
	groups := make(map[string]*group, len(gents))
	upOf := map[string][]string{} // member key -> keys of groups listing it (member mode)
	for _, e := range gents {
		key, err := normDN(e.DN)
		if err != nil {
			return Snapshot{}, fmt.Errorf("%w: group DN %q: %w", ErrSearch, e.DN, err)
		}
		name := e.GetEqualFoldAttributeValue(c.GroupNameAttribute)
		if name == "" {
			return Snapshot{}, fmt.Errorf("%w: group %q has no %s", ErrMissingAttribute, e.DN, c.GroupNameAttribute)
		}
		if err := ranged(e, c.MemberAttribute, c.MemberOfAttribute); err != nil {
			return Snapshot{}, err
		}
		g := &group{dn: e.DN, name: name}
		groups[key] = g
		switch c.Membership {
		case MembershipMemberOf:
			for _, v := range e.GetEqualFoldAttributeValues(c.MemberOfAttribute) {
				k, err := normDN(v)
				if err != nil {
					return Snapshot{}, fmt.Errorf("%w: group %q: %s value %q: %w", ErrSearch, e.DN, c.MemberOfAttribute, v, err)
				}
				g.up = append(g.up, k)
			}
		case MembershipMember:
			for _, v := range e.GetEqualFoldAttributeValues(c.MemberAttribute) {
				k, err := normDN(v)
				if err != nil {
					return Snapshot{}, fmt.Errorf("%w: group %q: %s value %q: %w", ErrSearch, e.DN, c.MemberAttribute, v, err)
				}
				upOf[k] = append(upOf[k], key)
			}
		}
	}
	if c.Membership == MembershipMember {
		for k, g := range groups {
			g.up = upOf[k]
		}
	}

	uents, err := s.search(ctx, l, "users", c.UserBaseDN, c.UserFilter, c.userAttributes())
	if err != nil {
		return Snapshot{}, err
	}
	dents, err := s.search(ctx, l, "disabled users", c.UserBaseDN, c.disabledFilter(), noAttributes)
	if err != nil {
		return Snapshot{}, err
	}
	disabled := make(map[string]bool, len(dents))
	for _, e := range dents {
		k, err := normDN(e.DN)
		if err != nil {
			return Snapshot{}, fmt.Errorf("%w: user DN %q: %w", ErrSearch, e.DN, err)
		}
		disabled[k] = true
	}

	// In-chain: the server resolves nesting, one query per group.
	chain := map[string][]string{} // user key -> group names
	if c.Membership == MembershipInChain {
		for _, g := range groups {
			ments, err := s.search(ctx, l, "members of "+g.dn, c.UserBaseDN, c.inChainFilter(g.dn), noAttributes)
			if err != nil {
				return Snapshot{}, err
			}
			for _, e := range ments {
				k, err := normDN(e.DN)
				if err != nil {
					return Snapshot{}, fmt.Errorf("%w: user DN %q: %w", ErrSearch, e.DN, err)
				}
				chain[k] = append(chain[k], g.name)
			}
		}
	}

	users := make([]User, 0, len(uents))
	byName := make(map[string]string, len(uents))
	for _, e := range uents {
		key, err := normDN(e.DN)
		if err != nil {
			return Snapshot{}, fmt.Errorf("%w: user DN %q: %w", ErrSearch, e.DN, err)
		}
		name := e.GetEqualFoldAttributeValue(c.UserNameAttribute)
		if name == "" {
			return Snapshot{}, fmt.Errorf("%w: user %q has no %s", ErrMissingAttribute, e.DN, c.UserNameAttribute)
		}
		if other, dup := byName[strings.ToLower(name)]; dup {
			return Snapshot{}, fmt.Errorf("%w: %s=%q on %q and %q", ErrDuplicateUser, c.UserNameAttribute, name, other, e.DN)
		}
		if err := ranged(e, c.MemberOfAttribute); err != nil {
			return Snapshot{}, err
		}
		byName[strings.ToLower(name)] = e.DN
		u := User{DN: e.DN, Name: name, Email: e.GetEqualFoldAttributeValue(c.EmailAttribute), Disabled: disabled[key]}
		switch c.Membership {
		case MembershipInChain:
			u.Groups = chain[key]
		case MembershipMember:
			u.Groups = closure(groups, upOf[key])
		case MembershipMemberOf:
			var direct []string
			for _, v := range e.GetEqualFoldAttributeValues(c.MemberOfAttribute) {
				k, err := normDN(v)
				if err != nil {
					return Snapshot{}, fmt.Errorf("%w: user %q: %s value %q: %w", ErrSearch, e.DN, c.MemberOfAttribute, v, err)
				}
				direct = append(direct, k)
			}
			u.Groups = closure(groups, direct)
		}
		slices.Sort(u.Groups)
		u.Groups = slices.Compact(u.Groups)
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b User) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		names = append(names, g.name)
	}
	slices.Sort(names)
	return Snapshot{Users: users, Groups: slices.Compact(names)}, nil
}

// ranged refuses an entry where the server sent only part of a
// multi-valued attribute ("member;range=0-1499", Active Directory's answer
// for groups with more than 1500 members): reading it as the whole list
// would silently drop members. in_chain does not read member lists.
func ranged(e *ldap.Entry, attrs ...string) error {
	for _, a := range e.Attributes {
		for _, want := range attrs {
			if len(a.Name) > len(want) && strings.EqualFold(a.Name[:len(want)+1], want+";") {
				return fmt.Errorf("%w: %q sent %s, a partial list (range retrieval is not supported; use membership in_chain)",
					ErrSearch, e.DN, a.Name)
			}
		}
	}
	return nil
}

// closure returns the names of the groups in direct and of every group
// above them, walking each group once (membership cycles end the walk).
// Keys that are not groups GroupFilter selected are ignored.
func closure(groups map[string]*group, direct []string) []string {
	seen := map[string]bool{}
	var names []string
	stack := slices.Clone(direct)
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g, ok := groups[k]
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		names = append(names, g.name)
		stack = append(stack, g.up...)
	}
	return names
}
