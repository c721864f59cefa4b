package adminapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/licgate/licgate/audit"
	"github.com/licgate/licgate/certs"
	"github.com/licgate/licgate/session"
	"github.com/licgate/licgate/store"
)

// Client calls the admin API over the unix socket. Its typed methods
// (Users, AddDevice, Reload, ...) are the API's one client: the CLI
// builds no paths of its own.
type Client struct {
	Socket string
	hc     *http.Client
}

// ErrNotRunning means nothing answers on the socket: it does not exist,
// or it is left over from a daemon that stopped.
var ErrNotRunning = errors.New("licgate is not running")

// ErrNoAccess means the socket exists but this user may not open it. The
// error also matches fs.ErrPermission.
var ErrNoAccess = errors.New("permission denied")

// APIStatusError is a non-2xx answer: the HTTP status and the API's message.
type APIStatusError struct {
	Status int
	APIError
}

func (e *APIStatusError) Error() string { return e.APIError.Error }

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{Socket: socket, hc: &http.Client{
		Timeout: 2 * time.Minute, // reports over a long period; the server's write timeout
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// ExplainDialError turns the error of dialling socket into one that says
// what is wrong and how to fix it: permission denied (wraps ErrNoAccess
// and the cause, so errors.Is(err, fs.ErrPermission) holds), no socket
// (the daemon is not running) or connection refused (a stale socket);
// both of the latter wrap ErrNotRunning. Other errors come back wrapped
// with the socket's name.
func ExplainDialError(socket string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w on %s: run the command with sudo (the socket and its directory belong to the "+
			"service's user %s and root) (%w)", ErrNoAccess, socket, socketGroup(socket), err)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: no daemon on %s (the socket does not exist): start it with "+
			"`sudo systemctl start licgate` or `licgate serve -c /etc/licgate/licgate.yaml`", ErrNotRunning, socket)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: no daemon on %s (connection refused: the socket is left from a daemon that stopped): "+
			"restart it with `sudo systemctl restart licgate` and see `journalctl -u licgate`", ErrNotRunning, socket)
	}
	return fmt.Errorf("adminapi: %s: %w", socket, err)
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("adminapi: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://licgate"+path, body)
	if err != nil {
		return nil, fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return nil, ExplainDialError(c.Socket, err)
		}
		return nil, fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &APIStatusError{Status: resp.StatusCode}
		json.Unmarshal(b, &e.APIError)
		e.APIError.Error = cmp.Or(e.APIError.Error, resp.Status)
		return nil, e
	}
	return resp, nil
}

// DoRaw calls method path and returns the body as it is (e.g. PEM).
func (c *Client) DoRaw(ctx context.Context, method, path string, out *[]byte) error {
	resp, err := c.send(ctx, method, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("adminapi: %s %s: %w", method, path, err)
	}
	*out = b
	return nil
}

// Do calls method path with in (JSON, may be nil) and decodes into out
// (may be nil). Prefer the typed methods.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("adminapi: %s %s: answer: %w", method, path, err)
	}
	return nil
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.Do(ctx, http.MethodGet, path, nil, &v)
	return v, err
}

func post[T any](ctx context.Context, c *Client, path string, in any) (T, error) {
	var v T
	err := c.Do(ctx, http.MethodPost, path, in, &v)
	return v, err
}

func seg(s string) string { return url.PathEscape(s) }

// Health is GET /api/v1/health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	return get[Health](ctx, c, "/api/v1/health")
}

// Users lists every user.
func (c *Client) Users(ctx context.Context) ([]store.User, error) {
	return get[[]store.User](ctx, c, "/api/v1/users")
}

// AddUser creates a user.
func (c *Client) AddUser(ctx context.Context, req AddUserRequest) (store.User, error) {
	return post[store.User](ctx, c, "/api/v1/users", req)
}

// SetUserDisabled disables (cutting the user's sessions) or enables a user.
func (c *Client) SetUserDisabled(ctx context.Context, name string, disabled bool) (CutResult, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return post[CutResult](ctx, c, "/api/v1/users/"+seg(name)+"/"+verb, nil)
}

// SetUserExpiry sets when the user's access ends (ExpiryRequest's forms).
func (c *Client) SetUserExpiry(ctx context.Context, name, expires string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/users/"+seg(name)+"/expiry", ExpiryRequest{Expires: expires}, nil)
}

// Devices lists devices; all includes revoked ones.
func (c *Client) Devices(ctx context.Context, all bool) ([]store.Device, error) {
	path := "/api/v1/devices"
	if all {
		path += "?all=1"
	}
	return get[[]store.Device](ctx, c, path)
}

// AddDevice creates a device (and, without a public key, its profile).
func (c *Client) AddDevice(ctx context.Context, req AddDeviceRequest) (DeviceResult, error) {
	return post[DeviceResult](ctx, c, "/api/v1/devices", req)
}

// RevokeDevice removes a device, cutting its sessions.
func (c *Client) RevokeDevice(ctx context.Context, user, name string) (CutResult, error) {
	return post[CutResult](ctx, c, "/api/v1/devices/"+seg(user)+"/"+seg(name)+"/revoke", nil)
}

// RekeyDevice replaces a device's key.
func (c *Client) RekeyDevice(ctx context.Context, user, name string, req RekeyRequest) (DeviceResult, error) {
	return post[DeviceResult](ctx, c, "/api/v1/devices/"+seg(user)+"/"+seg(name)+"/rekey", req)
}

// SetDeviceExpiry sets when a device stops working.
func (c *Client) SetDeviceExpiry(ctx context.Context, user, name, expires string) error {
	return c.Do(ctx, http.MethodPost, "/api/v1/devices/"+seg(user)+"/"+seg(name)+"/expiry", ExpiryRequest{Expires: expires}, nil)
}

// CreateEnrollLink makes a single-use enrolment link.
func (c *Client) CreateEnrollLink(ctx context.Context, req EnrollRequest) (EnrollLink, error) {
	return post[EnrollLink](ctx, c, "/api/v1/enrollments", req)
}

// Sessions lists live sessions.
func (c *Client) Sessions(ctx context.Context) ([]session.SessionInfo, error) {
	return get[[]session.SessionInfo](ctx, c, "/api/v1/sessions")
}

// CutSession ends one live session.
func (c *Client) CutSession(ctx context.Context, id uint64) (CutResult, error) {
	return post[CutResult](ctx, c, "/api/v1/sessions/"+strconv.FormatUint(id, 10)+"/cut", nil)
}

// Peers lists WireGuard peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	return get[[]PeerInfo](ctx, c, "/api/v1/peers")
}

// Groups lists the policy's groups with their members.
func (c *Client) Groups(ctx context.Context) ([]GroupView, error) {
	return get[[]GroupView](ctx, c, "/api/v1/groups")
}

// CA is the internal CA's certificate (PEM).
func (c *Client) CA(ctx context.Context) ([]byte, error) {
	var b []byte
	err := c.DoRaw(ctx, http.MethodGet, "/api/v1/ca", &b)
	return b, err
}

// Services lists the proxied services.
func (c *Client) Services(ctx context.Context) ([]ServiceView, error) {
	return get[[]ServiceView](ctx, c, "/api/v1/services")
}

// Certs lists the certificates served.
func (c *Client) Certs(ctx context.Context) ([]certs.View, error) {
	return get[[]certs.View](ctx, c, "/api/v1/certs")
}

// Policy is the policy in force.
func (c *Client) Policy(ctx context.Context) (PolicyView, error) {
	return get[PolicyView](ctx, c, "/api/v1/policy")
}

// Explain explains one decision against the policy in force.
func (c *Client) Explain(ctx context.Context, req ExplainRequest) (ExplainResult, error) {
	return post[ExplainResult](ctx, c, "/api/v1/policy/explain", req)
}

// Reload re-reads the config file and puts it in force.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	return post[ReloadResult](ctx, c, "/api/v1/policy/reload", nil)
}

// ReportQuery selects a report: From and To as ParseReportTime reads
// them (empty: the last 7 days, up to now), By user, group or service.
type ReportQuery struct {
	From, To, By string
}

// Report summarises license use.
func (c *Client) Report(ctx context.Context, q ReportQuery) (*audit.Report, error) {
	v := url.Values{}
	for k, s := range map[string]string{"from": q.From, "to": q.To, "by": q.By} {
		if s != "" {
			v.Set(k, s)
		}
	}
	path := "/api/v1/report"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	return get[*audit.Report](ctx, c, path)
}

// Denials lists refusals over the last since (confval.ParseDuration's
// forms; empty: 1h), newest first.
func (c *Client) Denials(ctx context.Context, since string) ([]store.AuditDenialRow, error) {
	path := "/api/v1/audit/denials"
	if since != "" {
		path += "?" + url.Values{"since": {since}}.Encode()
	}
	return get[[]store.AuditDenialRow](ctx, c, path)
}

// DDNS is the dynamic DNS status.
func (c *Client) DDNS(ctx context.Context) (DDNSView, error) {
	return get[DDNSView](ctx, c, "/api/v1/ddns")
}

// DDNSUpdate checks the address and updates the providers now.
func (c *Client) DDNSUpdate(ctx context.Context) (DDNSView, error) {
	return post[DDNSView](ctx, c, "/api/v1/ddns/update", nil)
}

// Directory is the LDAP/AD sync's state.
func (c *Client) Directory(ctx context.Context) (DirectoryView, error) {
	return get[DirectoryView](ctx, c, "/api/v1/directory")
}

// DirectoryAccept puts the snapshot the safeguard held back in force.
func (c *Client) DirectoryAccept(ctx context.Context) (HeldView, error) {
	return post[HeldView](ctx, c, "/api/v1/directory/accept", nil)
}

// DirectorySync asks the daemon to sync the directory now.
func (c *Client) DirectorySync(ctx context.Context) (DirectoryView, error) {
	return post[DirectoryView](ctx, c, "/api/v1/directory/sync", nil)
}
