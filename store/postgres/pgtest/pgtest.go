package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licgate/licgate/internal/testnet"
)

// Options tune Start; the zero value is a unix-socket-only server.
type Options struct {
	// TCP also listens on 127.0.0.1 on a free port (for namespaces or
	// processes that cannot reach the socket directory).
	TCP bool
	// Durable keeps PostgreSQL's defaults fsync=on and
	// synchronous_commit=on (benchmarks against SQLite's synchronous=FULL);
	// otherwise tests run with both off, for speed.
	Durable bool
}

// Server is a running PostgreSQL owned by one test.
type Server struct {
	Dir     string // data directory and socket directory's parent
	Sock    string // socket directory
	Port    int    // port (the socket's name, and TCP when enabled)
	TCP     bool
	Durable bool
	Version string // e.g. "15.14"
	bin     string
	run     []string // prefix that drops root (setpriv ...), or empty
	ndb     atomic.Int64
}

// BinDir finds PostgreSQL's server binaries: $PG_BIN, else the newest
// /usr/lib/postgresql/N/bin, else the directory of pg_ctl on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(ms, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(ms[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(ms[j]))))
		return vi > vj
	})
	if len(ms) > 0 {
		return filepath.Dir(ms[0]), nil
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		return "", fmt.Errorf("pgtest: PostgreSQL not installed (apt-get install postgresql): %w", err)
	}
	return filepath.Dir(p), nil
}

// Start initialises and starts a server for tb, stopped in tb.Cleanup.
func Start(tb testing.TB) *Server { return StartWith(tb, Options{}) }

// StartWith is Start with options.
func StartWith(tb testing.TB, o Options) *Server {
	tb.Helper()
	bin, err := BinDir()
	if err != nil {
		testnet.Missing(tb, "%v", err)
		return nil
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			testnet.Missing(tb, "pgtest: %v", err)
			return nil
		}
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: filepath.Join(dir, "data"), Sock: dir, bin: bin, TCP: o.TCP, Durable: o.Durable}
	if os.Geteuid() == 0 {
		uid, gid, name := lookupUser()
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		s.run = []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--"}
		_ = name
	}
	s.Port = freePort(tb)
	out, err := s.cmd("initdb", "-D", s.Dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		tb.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop() })
	if err := s.readVersion(); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("pgtest: PostgreSQL %s in %s (socket %s, port %d)", s.Version, s.Dir, s.Sock, s.Port)
	return s
}

// lookupUser picks the unprivileged account the server runs as.
func lookupUser() (uid, gid int, name string) {
	for _, n := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(n); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
			gid, _ = strconv.Atoi(u.Gid)
			return uid, gid, n
		}
	}
	return 65534, 65534, "nobody"
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *Server) cmd(name string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, s.run...), filepath.Join(s.bin, name))
	argv = append(argv, args...)
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append(os.Environ(), "LC_ALL=C")
	c.Dir = s.Sock
	return c
}

// Start starts the (stopped) server and waits until it accepts
// connections. Tests call it after Stop to test reconnection.
func (s *Server) Start() error {
	listen := "''"
	if s.TCP {
		listen = "127.0.0.1"
	}
	opts := fmt.Sprintf("-c listen_addresses=%s -c unix_socket_directories=%s -p %d -c max_connections=200", listen, s.Sock, s.Port)
	if !s.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	out, err := s.cmd("pg_ctl", "-D", s.Dir, "-l", filepath.Join(s.Sock, "log"), "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Sock, "log"))
		return fmt.Errorf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server (fast mode: open connections are cut, committed
// data is kept even though tests run with fsync and synchronous_commit
// off); stopping a stopped server is not an error. Kill is the crash.
func (s *Server) Stop() error {
	if _, err := os.Stat(filepath.Join(s.Dir, "postmaster.pid")); err != nil {
		return nil
	}
	out, err := s.cmd("pg_ctl", "-D", s.Dir, "-m", "fast", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// DSN is the connection string of database db over the unix socket.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.Sock, s.Port, db)
}

// TCPDSN is the connection string of database db over 127.0.0.1 (Options.TCP).
func (s *Server) TCPDSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.Port, db)
}

// NewDatabase creates a fresh empty database and returns its DSN. It is
// dropped when tb ends (connections still open are terminated).
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.ndb.Add(1))
	if err := s.exec(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { s.exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)) })
	return s.DSN(name)
}

func (s *Server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

func (s *Server) readVersion() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer c.Close(ctx)
	return c.QueryRow(ctx, "SHOW server_version").Scan(&s.Version)
}

// Kill sends SIGKILL to the postmaster (a crash; Start brings it back
// after recovery). Unless Durable, the last commits may be lost.
func (s *Server) Kill() error {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// Pause stops the server with SIGSTOP, the postmaster first, then every
// process it started (backends, checkpointer, ...): connections stay
// open and requests go unanswered, as with a database host that hangs.
// Resume continues it; a cleanup resumes it if the test does not, so
// the server can be stopped at the end.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	pm, err := s.postmaster()
	if err != nil {
		tb.Fatalf("pgtest: pause: %v", err)
	}
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		tb.Fatalf("pgtest: pause: postmaster %d: %v", pm, err)
	}
	tb.Cleanup(func() { s.Resume() })
	for _, pid := range children(pm) {
		syscall.Kill(pid, syscall.SIGSTOP) // a child that just exited is gone: fine
	}
}

// Resume continues a server Pause stopped (its processes, then the
// postmaster). Resuming a running server does nothing.
func (s *Server) Resume() error {
	pm, err := s.postmaster()
	if err != nil {
		return fmt.Errorf("pgtest: resume: %w", err)
	}
	for _, pid := range children(pm) {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	if err := syscall.Kill(pm, syscall.SIGCONT); err != nil {
		return fmt.Errorf("pgtest: resume: postmaster %d: %w", pm, err)
	}
	return nil
}

// postmaster is the server's postmaster PID (postmaster.pid's first line).
func (s *Server) postmaster() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
}

// children lists the processes whose parent is ppid (from /proc).
func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
