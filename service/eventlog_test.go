package service

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type eventRecorder struct{ events []string }

func (e *eventRecorder) Info(id uint32, msg string) error    { return e.add("I", id, msg) }
func (e *eventRecorder) Warning(id uint32, msg string) error { return e.add("W", id, msg) }
func (e *eventRecorder) Error(id uint32, msg string) error   { return e.add("E", id, msg) }
func (e *eventRecorder) add(l string, id uint32, msg string) error {
	e.events = append(e.events, fmt.Sprintf("%s%d %s", l, id, msg))
	return nil
}

func TestEventLogHandler(t *testing.T) {
	rec := &eventRecorder{}
	log := slog.New(newEventLogHandler(rec, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log.Debug("hidden")
	log.Info("config loaded", "file", `C:\ProgramData\licgate\licgate.yaml`)
	log.With("device", "laptop").WithGroup("wg").Warn("handshake late", "after", "3m")
	log.Error("listen failed", "err", "address in use")
	want := []string{
		`I1 msg="config loaded" file=C:\ProgramData\licgate\licgate.yaml`,
		`W2 msg="handshake late" device=laptop wg.after=3m`,
		`E3 msg="listen failed" err="address in use"`,
	}
	if strings.Join(rec.events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(rec.events, "\n"), strings.Join(want, "\n"))
	}
}

func newRecord(msg string) slog.Record {
	return slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
}
