//go:build windows

package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// StateDirSDDL is the state directory's security descriptor: a protected DACL
// (no inheritance from C:\ProgramData, which lets every user read) granting
// full control to SYSTEM and the Administrators group, inherited by files
// and subdirectories (the database, the key, the admin socket).
const StateDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

func programDataKnownFolder() string {
	p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		return ""
	}
	return p
}

// SecureStateDir creates dir (and its parents) and sets StateDirSDDL on it.
func SecureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("service: state dir: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(StateDirSDDL)
	if err != nil {
		return fmt.Errorf("service: state dir sddl: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("service: state dir dacl: %w", err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("service: state dir acl %s: %w", dir, err)
	}
	return nil
}

// dirDACL returns the SDDL of dir's DACL, for tests and `licgate service status`.
func dirDACL(dir string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", fmt.Errorf("service: read acl %s: %w", dir, err)
	}
	return sd.String(), nil
}

func newPlatform(cfg Config) (Manager, error) {
	return &scm{cfg: cfg}, nil
}

// scm drives the Windows Service Control Manager.
type scm struct{ cfg Config }

// recovery restarts the service 5 s, 30 s and 60 s after the first three
// failures of a day; the failure count resets after 24 hours.
var recovery = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
}

func (w *scm) connect() (*mgr.Mgr, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("service: connect to service manager (run as Administrator): %w", err)
	}
	return m, nil
}

func (w *scm) Install(ctx context.Context) error {
	exe, err := w.cfg.executable()
	if err != nil {
		return err
	}
	name := w.cfg.name()
	if err := SecureStateDir(w.cfg.paths().StateDir); err != nil {
		return err
	}
	m, err := w.connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	conf := mgr.Config{
		DisplayName:  w.cfg.displayName(),
		Description:  w.cfg.description(),
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}
	s, err := m.OpenService(name)
	if err == nil {
		// Reinstall: stop, then rewrite the command line and settings.
		if err := stopService(ctx, s); err != nil {
			s.Close()
			return err
		}
		old, err := s.Config()
		if err != nil {
			s.Close()
			return fmt.Errorf("service: %s config: %w", name, err)
		}
		old.DisplayName, old.Description, old.StartType = conf.DisplayName, conf.Description, conf.StartType
		old.BinaryPathName = windows.EscapeArg(exe) + commandLineArgs(w.cfg.args())
		if err := s.UpdateConfig(old); err != nil {
			s.Close()
			return fmt.Errorf("service: %s update: %w", name, err)
		}
	} else {
		s, err = m.CreateService(name, exe, conf, w.cfg.args()...)
		if err != nil {
			return fmt.Errorf("service: create %s: %w", name, err)
		}
	}
	defer s.Close()
	w.cfg.log().Info("service: registered", "name", name, "exe", exe)
	if err := s.SetRecoveryActions(recovery, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("service: %s recovery actions: %w", name, err)
	}
	// A `licgate serve` that returns an error reports a service-specific exit
	// code rather than crashing: count that as a failure too.
	// Wine answers ERROR_INVALID_LEVEL (Windows has it since Vista): then only
	// crashes trigger the restarts, which is worth a warning, not a failure.
	err = s.SetRecoveryActionsOnNonCrashFailures(true)
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		w.cfg.log().Warn("service: recovery on failure exit not supported", "name", name, "err", err)
	} else if err != nil {
		return fmt.Errorf("service: %s recovery on failure exit: %w", name, err)
	}
	// The event source: removed first so a reinstall does not fail on "exists".
	_ = eventlog.Remove(name)
	if err := eventlog.InstallAsEventCreate(name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		return fmt.Errorf("service: event log source %s: %w", name, err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("service: start %s: %w", name, err)
	}
	return nil
}

func commandLineArgs(args []string) string {
	s := ""
	for _, a := range args {
		s += " " + windows.EscapeArg(a)
	}
	return s
}

func (w *scm) open() (*mgr.Mgr, *mgr.Service, error) {
	m, err := w.connect()
	if err != nil {
		return nil, nil, err
	}
	s, err := m.OpenService(w.cfg.name())
	if err != nil {
		m.Disconnect()
		return nil, nil, err
	}
	return m, s, nil
}

func (w *scm) Uninstall(ctx context.Context) error {
	m, s, err := w.open()
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("service: open %s: %w", w.cfg.name(), err)
	}
	defer m.Disconnect()
	defer s.Close()
	if err := stopService(ctx, s); err != nil {
		return err
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service: delete %s: %w", w.cfg.name(), err)
	}
	if err := eventlog.Remove(w.cfg.name()); err != nil {
		w.cfg.log().Warn("service: event log source", "name", w.cfg.name(), "err", err)
	}
	return nil
}

func (w *scm) Start(ctx context.Context) error {
	m, s, err := w.open()
	if err != nil {
		return fmt.Errorf("service: open %s: %w", w.cfg.name(), err)
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		return fmt.Errorf("service: start %s: %w", w.cfg.name(), err)
	}
	return nil
}

func (w *scm) Stop(ctx context.Context) error {
	m, s, err := w.open()
	if err != nil {
		return fmt.Errorf("service: open %s: %w", w.cfg.name(), err)
	}
	defer m.Disconnect()
	defer s.Close()
	return stopService(ctx, s)
}

// stopService asks the service to stop and waits until the SCM reports it
// stopped. The SCM has no notification Go's mgr exposes, so it polls.
func stopService(ctx context.Context, s *mgr.Service) error {
	st, err := s.Control(svc.Stop)
	if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("service: stop %s: %w", s.Name, err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for st.State != svc.Stopped {
		select {
		case <-ctx.Done():
			return fmt.Errorf("service: stop %s: %w", s.Name, ctx.Err())
		case <-tick.C:
		}
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("service: query %s: %w", s.Name, err)
		}
	}
	return nil
}

func (w *scm) Status(ctx context.Context) (Status, error) {
	m, s, err := w.open()
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return NotInstalled, nil
	}
	if err != nil {
		return Unknown, fmt.Errorf("service: open %s: %w", w.cfg.name(), err)
	}
	defer m.Disconnect()
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return Unknown, fmt.Errorf("service: query %s: %w", w.cfg.name(), err)
	}
	switch st.State {
	case svc.Running, svc.StartPending, svc.ContinuePending:
		return Running, nil
	case svc.Stopped, svc.StopPending, svc.Paused, svc.PausePending:
		return Stopped, nil
	}
	return Unknown, nil
}

// UnderServiceManager reports whether the Windows Service Control Manager
// started this process (then `licgate serve` must call RunWindows).
//
// svc.IsWindowsService wants a parent named services.exe in session 0. Wine
// runs its services.exe in session 1, so under Wine (CI's Windows) the parent's
// name alone decides.
func UnderServiceManager() bool {
	if ok, err := svc.IsWindowsService(); err == nil && ok {
		return true
	}
	return isWine() && parentIsServicesExe()
}

func isWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func parentIsServicesExe() bool {
	var pbi windows.PROCESS_BASIC_INFORMATION
	err := windows.NtQueryInformationProcess(windows.CurrentProcess(), windows.ProcessBasicInformation,
		unsafe.Pointer(&pbi), uint32(unsafe.Sizeof(pbi)), nil)
	if err != nil {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pbi.InheritedFromUniqueProcessId))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return false
	}
	name := windows.UTF16ToString(buf[:n])
	if i := strings.LastIndexAny(name, `\/`); i >= 0 {
		name = name[i+1:]
	}
	return strings.EqualFold(name, "services.exe")
}

// RunWindows reports to the SCM as service name and runs serve until it
// returns or the SCM asks the service to stop or the machine shuts down; then
// it cancels serve's context and waits for serve to return. An error from
// serve ends the service with exit code 1, which the recovery actions set by
// Install count as a failure and answer with a restart.
func RunWindows(name string, serve func(ctx context.Context) error) error {
	h := &handler{serve: serve}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("service: run %s: %w", name, err)
	}
	return h.err
}

// handler is the svc.Handler of `licgate serve`.
type handler struct {
	serve func(ctx context.Context) error
	err   error // serve's result, read by RunWindows after svc.Run returns
}

func runServe(ctx context.Context, serve func(ctx context.Context) error, done chan<- error) {
	done <- serve(ctx)
}

func (h *handler) Execute(args []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go runServe(ctx, h.serve, done)
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case h.err = <-done:
			if h.err != nil {
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				cancel()
				if h.err = <-done; h.err != nil {
					return true, 1
				}
				return false, 0
			}
		}
	}
}

// NewEventLogHandler returns a slog.Handler writing to the Windows Event Log
// under source (registered by Install as the service name), and the log's
// closer.
func NewEventLogHandler(source string, opts *slog.HandlerOptions) (slog.Handler, io.Closer, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, nil, fmt.Errorf("service: open event log %s: %w", source, err)
	}
	return newEventLogHandler(l, opts), l, nil
}
