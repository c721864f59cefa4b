//go:build windows

package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/sys/windows/svc"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/eventlog"
)

// underWine reports whether this Windows is Wine (ntdll exports
// wine_get_version). Set by the Linux-side TestWine as well.
func underWine() bool { return isWine() }

func TestWindowsPaths(t *testing.T) {
	p := Paths()
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.StateDir != filepath.Join(pd, "licgate") || p.Config != filepath.Join(pd, "licgate", "licgate.yaml") ||
		p.Socket != filepath.Join(pd, "licgate", "licgate.sock") {
		t.Errorf("Paths() = %+v (ProgramData %s)", p, pd)
	}
	if !filepath.IsAbs(p.StateDir) {
		t.Errorf("state dir %s not absolute", p.StateDir)
	}
	// AF_UNIX paths on Windows are limited to 108 bytes, as on Linux.
	if len(p.Socket) >= 108 {
		t.Errorf("socket path %d bytes", len(p.Socket))
	}
}

// TestSecureStateDirACL checks the state directory's DACL in two steps:
// what SecureStateDir asks Windows to set (the SDDL parsed by the system's
// own advapi32, so it runs under Wine too), and what the file system kept
// on the directory and gives a file made in it. Wine 8 does not keep file
// DACLs (it reads back one made up from the Unix mode bits), so the second
// step is reported as not run there; it runs on Windows.
func TestSecureStateDirACL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "licgate")
	if err := SecureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	checkDACL := func(t *testing.T, sddl string) {
		for _, want := range []string{"D:P", "(A;OICI;FA;;;SY)", "(A;OICI;FA;;;BA)"} {
			if !strings.Contains(sddl, want) {
				t.Errorf("DACL %s lacks %s", sddl, want)
			}
		}
		// No other ACE: the users of C:\ProgramData must not inherit read access.
		if n := strings.Count(sddl, "(A;"); n != 2 {
			t.Errorf("DACL %s has %d allow entries, want 2", sddl, n)
		}
	}
	t.Run("requested", func(t *testing.T) {
		sd, err := windows.SecurityDescriptorFromString(StateDirSDDL)
		if err != nil {
			t.Fatal(err)
		}
		checkDACL(t, sd.String())
	})
	t.Run("kept", func(t *testing.T) {
		sddl, err := dirDACL(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("DACL read back: %s", sddl)
		if underWine() {
			t.Skipf("NOT RUN under Wine: Wine 8 accepts SetNamedSecurityInfo but does not keep file DACLs "+
				"(it reads back %s, made up from the Unix mode bits); the DACL on disk and its inheritance "+
				"are checked on Windows only: go test ./service -run TestSecureStateDirACL", sddl)
		}
		checkDACL(t, sddl)
		// A file made inside inherits the two entries.
		f := filepath.Join(dir, "licgate.db")
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		fsd, err := dirDACL(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("file DACL: %s", fsd)
		if !strings.Contains(fsd, "SY)") || !strings.Contains(fsd, "BA)") || strings.Contains(fsd, ";;;BU)") {
			t.Errorf("file in state dir has DACL %s", fsd)
		}
	})
}

// TestUnixSocket listens on and dials an AF_UNIX socket in the secured state
// directory, as the admin API does.
func TestUnixSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "licgate")
	if err := SecureStateDir(dir); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "licgate.sock")
	l, err := net.Listen("unix", sock)
	if err != nil && underWine() && errors.Is(err, windows.WSAEAFNOSUPPORT) {
		t.Skipf("NOT RUN under Wine: Wine has no AF_UNIX sockets (%v); checked on Windows 10 1803+ only", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		done <- err
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q %v", buf, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestEventLog(t *testing.T) {
	const source = "licgate-test"
	_ = eventlog.Remove(source)
	if err := eventlog.InstallAsEventCreate(source, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		t.Fatalf("register event source (needs Administrator): %v", err)
	}
	defer eventlog.Remove(source)
	h, closer, err := NewEventLogHandler(source, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if err := h.Handle(context.Background(), newRecord("service started")); err != nil {
		t.Fatalf("ReportEvent: %v", err)
	}
	// Reading the record back needs the event log query API, which x/sys
	// does not wrap: the message is checked by eye on real Windows.
}

// TestSCM installs this test binary as a service, so the Service Control
// Manager starts it (TestServiceChild then runs RunWindows), and drives it
// through Status, Stop, Start and Uninstall. It runs under Wine (CI); on a
// real Windows it changes the machine, so only with LICGATE_TEST_SCM=1 from an
// elevated prompt.
func TestSCM(t *testing.T) {
	if !underWine() && os.Getenv("LICGATE_TEST_SCM") == "" {
		t.Skip("installs a Windows service: set LICGATE_TEST_SCM=1 (as Administrator)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	m, err := New(Config{
		Name:       "licgate-test",
		Executable: exe,
		Args:       []string{"-test.run=^TestServiceChild$", marker},
		Paths:      PathSet{StateDir: filepath.Join(dir, "state"), Config: filepath.Join(dir, "licgate.yaml")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = m.Uninstall(ctx) // a leftover of an interrupted run
	if st, err := m.Status(ctx); err != nil || st != NotInstalled {
		t.Fatalf("before install: %v %v", st, err)
	}
	if err := m.Install(ctx); err != nil {
		d, _ := os.ReadFile(marker + ".diag")
		t.Fatal(err, string(d))
	}
	t.Cleanup(func() { _ = m.Uninstall(context.Background()) })
	waitMarker(ctx, t, marker, "running")
	if st, err := m.Status(ctx); err != nil || st != Running {
		t.Errorf("after install: %v %v, want running", st, err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The SCM reports Stopped only after Execute returned, which is after
	// serve saw its context end and wrote "stopped".
	if b, _ := os.ReadFile(marker); string(b) != "stopped" {
		t.Errorf("marker after Stop: %q, want stopped (serve's context was not cancelled)", b)
	}
	if st, err := m.Status(ctx); err != nil || st != Stopped {
		t.Errorf("after stop: %v %v, want stopped", st, err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitMarker(ctx, t, marker, "running")
	if err := m.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := m.Status(ctx); err != nil || st != NotInstalled {
		t.Errorf("after uninstall: %v %v", st, err)
	}
}

// waitMarker polls the marker file the service child writes: the SCM offers
// no notification through x/sys, and the child is another process.
func waitMarker(ctx context.Context, t *testing.T, marker, want string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, _ := os.ReadFile(marker); string(b) == want {
			return
		}
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(marker)
			d, _ := os.ReadFile(marker + ".diag")
			t.Fatalf("marker %q, want %q: %v (diag %s)", b, want, ctx.Err(), d)
		case <-tick.C:
		}
	}
}

// TestServiceChild is the service TestSCM installs; it does nothing when
// run by `go test`.
func TestServiceChild(t *testing.T) {
	if flag.Arg(0) != "" {
		// What the detection saw, for TestSCM's failure message.
		ok, err := svc.IsWindowsService()
		diag := fmt.Sprintf("svc.IsWindowsService=%v,%v parent services.exe=%v wine=%v", ok, err, parentIsServicesExe(), isWine())
		_ = os.WriteFile(flag.Arg(0)+".diag", []byte(diag), 0o644)
	}
	if !UnderServiceManager() {
		t.Skip("run by TestSCM through the Service Control Manager")
	}
	marker := flag.Arg(0)
	err := RunWindows("licgate-test", func(ctx context.Context) error {
		if err := os.WriteFile(marker, []byte("running"), 0o644); err != nil {
			return err
		}
		<-ctx.Done()
		return os.WriteFile(marker, []byte("stopped"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
