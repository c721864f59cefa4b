package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
)

// Manager controls the licgate service through the platform's service
// manager. Every method may need administrator rights; without them the
// manager's own "access denied" comes back wrapped.
type Manager interface {
	// Install writes the service definition (unit, plist, rc.d script or SCM
	// entry), creates the state directory with its permissions, enables the
	// service at boot and starts it. Installing again replaces the definition
	// and restarts the service. The config file and state are never touched.
	Install(ctx context.Context) error
	// Uninstall stops the service and removes its definition. The config
	// file and the state directory (database, keys) stay. Uninstalling a
	// service that is not installed returns nil.
	Uninstall(ctx context.Context) error
	// Start starts the installed service; a running service is left alone.
	Start(ctx context.Context) error
	// Stop stops the service and returns once the manager reports it stopped
	// (or ctx ends); a stopped service is left alone.
	Stop(ctx context.Context) error
	// Status reports the service's state; NotInstalled is not an error.
	Status(ctx context.Context) (Status, error)
}

// Status is a service's state as the manager reports it.
type Status int

const (
	Unknown Status = iota
	NotInstalled
	Stopped
	Running
)

func (s Status) String() string {
	switch s {
	case NotInstalled:
		return "not installed"
	case Stopped:
		return "stopped"
	case Running:
		return "running"
	}
	return "unknown"
}

// Errors New returns.
var (
	// ErrNoServiceManager: the platform has no service manager licgate
	// drives (Linux without systemd: OpenWrt, containers, SysV init).
	ErrNoServiceManager = errors.New("service: no supported service manager")
	// ErrUnsupported: the call has no meaning on this platform (RunWindows
	// outside Windows, for example).
	ErrUnsupported = errors.New("service: not supported on this platform")
)

// Config describes the service to install. The zero value is the standard
// licgate service; every field has a default.
type Config struct {
	// Name is the systemd unit, Windows service and rc.d script name.
	// If empty, "licgate".
	Name string
	// Label is the launchd label (and plist file name).
	// If empty, "com.github.licgate.licgate".
	Label string
	// DisplayName is what the Windows services console shows.
	// If empty, "licgate license gateway".
	DisplayName string
	// Description is the one-line description in every definition.
	// If empty, "licgate: WireGuard gateway for network license servers".
	Description string
	// Executable is the absolute path of the licgate binary the service runs.
	// If empty, the running executable (os.Executable).
	Executable string
	// Args are the arguments after Executable.
	// If nil, ["serve", "-c", Paths.Config].
	Args []string
	// User is the systemd User= and Group=. If empty, DynamicUser=yes: systemd
	// makes up a user per start. The Debian package sets "licgate". Other
	// platforms run the service as root/LocalSystem and ignore it.
	User string
	// Paths are the config, state and socket paths. If zero, Paths().
	Paths PathSet
	// Log receives one record per step (file written, command run).
	// If nil, nothing is logged.
	Log *slog.Logger
}

func (c Config) name() string {
	if c.Name == "" {
		return "licgate"
	}
	return c.Name
}

func (c Config) label() string {
	if c.Label == "" {
		return "com.github.licgate.licgate"
	}
	return c.Label
}

func (c Config) displayName() string {
	if c.DisplayName == "" {
		return "licgate license gateway"
	}
	return c.DisplayName
}

func (c Config) description() string {
	if c.Description == "" {
		return "licgate: WireGuard gateway for network license servers"
	}
	return c.Description
}

func (c Config) paths() PathSet {
	if c.Paths == (PathSet{}) {
		return Paths()
	}
	return c.Paths
}

// executable resolves Executable; only Install needs it, so New stays free of
// side effects and errors.
func (c Config) executable() (string, error) {
	if c.Executable != "" {
		return c.Executable, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("service: path of licgate binary: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

func (c Config) args() []string {
	if c.Args == nil {
		return []string{"serve", "-c", c.paths().Config}
	}
	return c.Args
}

func (c Config) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}

// New returns the Manager for the running platform. It only inspects the
// system (is systemd running?); nothing is written until a method is called.
func New(cfg Config) (Manager, error) {
	return newPlatform(cfg)
}

// runFunc runs a service-manager command and returns its combined output.
// Tests replace it to record the calls.
type runFunc func(ctx context.Context, name string, args ...string) ([]byte, error)

func execRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return bytes.TrimSpace(out), err
}

// fsys is where the Unix managers write: "/" normally, a temporary
// directory in tests.
type fsys struct{ root string }

func (f fsys) path(p string) string { return filepath.Join(f.root, filepath.FromSlash(p)) }

func (f fsys) writeFile(p string, data []byte, perm os.FileMode) error {
	full := f.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	// Write then rename, so a crash never leaves half a unit file behind.
	tmp := full + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("service: %w", err)
	}
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("service: %w", err)
	}
	return nil
}

func (f fsys) exists(p string) bool {
	_, err := os.Stat(f.path(p))
	return err == nil
}

func (f fsys) remove(p string) error {
	if err := os.Remove(f.path(p)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("service: %w", err)
	}
	return nil
}

func (f fsys) mkdirPrivate(p string) error {
	full := f.path(p)
	if err := os.MkdirAll(full, 0o700); err != nil {
		return fmt.Errorf("service: state dir: %w", err)
	}
	if err := os.Chmod(full, 0o700); err != nil {
		return fmt.Errorf("service: state dir: %w", err)
	}
	return nil
}

// cmdError wraps a failed command with its output, which is where systemctl
// and launchctl say what went wrong.
func cmdError(name string, args []string, out []byte, err error) error {
	return fmt.Errorf("service: %s %v: %w: %s", name, args, err, out)
}
