package approval

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/store"
)

// Backend is what the queue asks of the gateway (identity.Manager).
type Backend interface {
	// PendingDevices lists the devices waiting for approval.
	PendingDevices(ctx context.Context) ([]store.Device, error)
	// ApproveDevice makes the pending device active and adds its peer;
	// store.ErrNotFound, store.ErrExpired.
	ApproveDevice(ctx context.Context, user, name string) (store.Device, error)
	// DenyDevice removes the pending device; store.ErrNotFound.
	DenyDevice(ctx context.Context, user, name string) (store.Device, error)
}

// Routes mounts the queue's endpoints (adminapi.Options.Mount).
func Routes(b Backend) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /api/v1/pending", func(w http.ResponseWriter, r *http.Request) {
			ds, err := b.PendingDevices(r.Context())
			if err != nil {
				writeErr(w, err)
				return
			}
			sort.SliceStable(ds, func(i, j int) bool { return ds[i].Created.Before(ds[j].Created) })
			writeJSON(w, http.StatusOK, ds)
		})
		mux.HandleFunc("POST /api/v1/pending/{user}/{name}/approve", act(b.ApproveDevice))
		mux.HandleFunc("POST /api/v1/pending/{user}/{name}/deny", act(b.DenyDevice))
	}
}

func act(fn func(ctx context.Context, user, name string) (store.Device, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := fn(r.Context(), r.PathValue("user"), r.PathValue("name"))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeErr answers with the API's error body; 404 for no such request,
// 410 for one whose time ran out.
func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrExpired):
		code = http.StatusGone
	case errors.Is(err, store.ErrExists):
		code = http.StatusConflict
	}
	writeJSON(w, code, adminapi.APIError{Error: err.Error()})
}

// Client is the queue's typed client over an adminapi.Client.
type Client struct{ c *adminapi.Client }

// NewClient wraps c.
func NewClient(c *adminapi.Client) Client { return Client{c} }

// Pending lists the devices waiting for approval, oldest request first.
func (c Client) Pending(ctx context.Context) ([]store.Device, error) {
	var ds []store.Device
	return ds, c.c.Do(ctx, http.MethodGet, "/api/v1/pending", nil, &ds)
}

// Approve approves user's device name and returns it, active.
func (c Client) Approve(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	return d, c.c.Do(ctx, http.MethodPost, path(user, name, "approve"), nil, &d)
}

// Deny denies user's device name and returns the request that went.
func (c Client) Deny(ctx context.Context, user, name string) (store.Device, error) {
	var d store.Device
	return d, c.c.Do(ctx, http.MethodPost, path(user, name, "deny"), nil, &d)
}

func path(user, name, verb string) string {
	return "/api/v1/pending/" + url.PathEscape(user) + "/" + url.PathEscape(name) + "/" + verb
}
