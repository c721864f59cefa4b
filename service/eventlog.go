package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// eventWriter is what the Windows Event Log offers
// (golang.org/x/sys/windows/svc/eventlog.Log); tests use a recorder.
type eventWriter interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Event IDs licgate writes: one per level, so an event-log filter can pick
// errors by ID.
const (
	EventIDInfo    = 1
	EventIDWarning = 2
	EventIDError   = 3
)

// eventLogHandler is a slog.Handler that formats each record as a logfmt
// line (as slog.TextHandler, minus the time, which the Event Log stamps) and
// reports it with the record's severity.
type eventLogHandler struct {
	w    eventWriter
	mu   *sync.Mutex
	buf  *bytes.Buffer
	text slog.Handler // writes into buf
}

func newEventLogHandler(w eventWriter, opts *slog.HandlerOptions) *eventLogHandler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	user := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{} // the Event Log has its own time and severity
		}
		if user != nil {
			return user(groups, a)
		}
		return a
	}
	buf := new(bytes.Buffer)
	return &eventLogHandler{w: w, mu: new(sync.Mutex), buf: buf, text: slog.NewTextHandler(buf, &o)}
}

func (h *eventLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.text.Enabled(ctx, l)
}

func (h *eventLogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	msg := strings.TrimSuffix(h.buf.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Error(EventIDError, msg)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(EventIDWarning, msg)
	default:
		return h.w.Info(EventIDInfo, msg)
	}
}

func (h *eventLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventLogHandler{w: h.w, mu: h.mu, buf: h.buf, text: h.text.WithAttrs(as)}
}

func (h *eventLogHandler) WithGroup(name string) slog.Handler {
	return &eventLogHandler{w: h.w, mu: h.mu, buf: h.buf, text: h.text.WithGroup(name)}
}
