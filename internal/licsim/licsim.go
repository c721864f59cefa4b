// Package licsim is a stand-in for a network license server (CodeMeter and
// its kind) for tests, the demo and benchmarks. It is a fixture, not a
// feature: the real protocols are encrypted and undocumented, so licsim
// reproduces only what a gateway can observe of them.
//
//   - TCP: a client holds one of N seats for as long as its connection is
//     open. Lines are request/response:
//     "HELLO <client>" -> "OK seat=<i> inuse=<n>/<N>" (or "BUSY inuse=N/N", then close)
//     "PING [payload]" -> "PONG [payload]" (heartbeat)
//     "INFO"           -> "INUSE <n>/<N>"
//     "BYE"            -> "BYE", then close
//     The seat is freed when the connection closes or when the client is
//     silent longer than IdleTimeout (the server-side clean-up timeout).
//   - UDP on the same port: "DISCOVER" -> "LICSIM name=<name> inuse=<n>/<N>",
//     like a server answering a broadcast search.
//
// Typical usage:
//
//	s := &licsim.Server{Seats: 3}
//	if err := s.Listen("127.0.0.1:0"); err != nil { ... }
//	defer s.Close()
//	fmt.Println(s.Addr(), s.InUse())
package licsim

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Server is the stand-in license server.
type Server struct {
	// Seats is the number of licenses. If zero, 3.
	Seats int
	// IdleTimeout frees a seat whose client has been silent this long.
	// If zero, 120s (CodeMeter's CleanUpTimeOut default).
	IdleTimeout time.Duration
	// Name appears in discovery answers. If empty, "licsim".
	Name string
	// Logger; if nil, logs are discarded.
	Logger *slog.Logger

	mu      sync.Mutex
	inUse   map[int]net.Conn // seat -> holder
	holders map[int]Holder   // seat -> who said HELLO, and when
	conns   map[net.Conn]struct{}
	ln      net.Listener
	pc      net.PacketConn
	wg      sync.WaitGroup
	closed  bool
	changed chan struct{} // closed and replaced on every seat change
	accepts int64
}

// Accepted is the number of TCP connections accepted so far: a gateway
// that refuses a client must not have opened one.
func (s *Server) Accepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts
}

func (s *Server) seats() int {
	if s.Seats == 0 {
		return 3
	}
	return s.Seats
}

func (s *Server) idle() time.Duration {
	if s.IdleTimeout == 0 {
		return 120 * time.Second
	}
	return s.IdleTimeout
}

func (s *Server) name() string {
	if s.Name == "" {
		return "licsim"
	}
	return s.Name
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Listen opens TCP and UDP on addr (UDP on the same port TCP got) and serves.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("licsim: listen tcp %s: %w", addr, err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return fmt.Errorf("licsim: listen udp %s: %w", ln.Addr(), err)
	}
	s.Serve(ln, pc)
	return nil
}

// Serve serves on the given listener and packet conn (pc may be nil) in
// the background until Close.
func (s *Server) Serve(ln net.Listener, pc net.PacketConn) {
	s.mu.Lock()
	s.ln, s.pc = ln, pc
	s.inUse = map[int]net.Conn{}
	s.holders = map[int]Holder{}
	s.conns = map[net.Conn]struct{}{}
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(ln)
	if pc != nil {
		s.wg.Add(1)
		go s.discoveryLoop(pc)
	}
}

// Addr is the TCP (and UDP) address served.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// InUse is the number of seats held now.
func (s *Server) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inUse)
}

// WaitInUse waits until InUse() == n or the timeout passes, and reports
// whether it got there.
func (s *Server) WaitInUse(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, ch := len(s.inUse), s.changed
		s.mu.Unlock()
		if got == n {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// Holder is one held seat: the client's HELLO argument, its address, and
// when it took the seat.
type Holder struct {
	Seat   int
	Client string
	Remote string
	Since  time.Time
}

// Holders are the seats held now, by seat number: the server's own answer
// to "who holds the seats".
func (s *Server) Holders() []Holder {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Holder, 0, len(s.holders))
	for i := 1; i <= s.seats(); i++ {
		if h, ok := s.holders[i]; ok {
			out = append(out, h)
		}
	}
	return out
}

// Close stops serving and drops every client.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed || s.ln == nil {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	s.ln.Close()
	if s.pc != nil {
		s.pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.accepts++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) take(c net.Conn, client string) (seat int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i <= s.seats(); i++ {
		if _, held := s.inUse[i]; !held {
			s.inUse[i] = c
			s.holders[i] = Holder{Seat: i, Client: client, Remote: c.RemoteAddr().String(), Since: time.Now()}
			s.notifyLocked()
			return i, true
		}
	}
	return 0, false
}

func (s *Server) release(seat int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, held := s.inUse[seat]; held {
		delete(s.inUse, seat)
		delete(s.holders, seat)
		s.notifyLocked()
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	seat := 0
	defer func() {
		if seat != 0 {
			s.release(seat)
			s.log().Debug("licsim seat released", slog.Int("seat", seat), slog.String("client", c.RemoteAddr().String()))
		}
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		c.SetReadDeadline(time.Now().Add(s.idle()))
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.log().Info("licsim client timed out", slog.String("client", c.RemoteAddr().String()))
			}
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch cmd {
		case "HELLO":
			if seat == 0 {
				var ok bool
				if seat, ok = s.take(c, arg); !ok {
					fmt.Fprintf(w, "BUSY inuse=%d/%d\n", s.seats(), s.seats())
					w.Flush()
					return
				}
				s.log().Debug("licsim seat taken", slog.Int("seat", seat), slog.String("client", arg))
			}
			fmt.Fprintf(w, "OK seat=%d inuse=%d/%d\n", seat, s.InUse(), s.seats())
		case "PING":
			w.WriteString("PONG")
			if arg != "" {
				w.WriteString(" ")
				w.WriteString(arg)
			}
			w.WriteString("\n")
		case "INFO":
			fmt.Fprintf(w, "INUSE %d/%d\n", s.InUse(), s.seats())
		case "BYE":
			w.WriteString("BYE\n")
			w.Flush()
			return
		default:
			fmt.Fprintf(w, "ERR unknown command %q\n", cmd)
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

func (s *Server) discoveryLoop(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if strings.TrimSpace(string(buf[:n])) != "DISCOVER" {
			continue
		}
		ans := fmt.Sprintf("LICSIM name=%s inuse=%d/%d", s.name(), s.InUse(), s.seats())
		pc.WriteTo([]byte(ans), from)
	}
}

// Client speaks licsim's line protocol over any connection (a tunnel
// connection in tests and the demo).
type Client struct {
	c net.Conn
	r *bufio.Reader
}

// NewClient wraps c.
func NewClient(c net.Conn) *Client { return &Client{c: c, r: bufio.NewReader(c)} }

// Call sends one request line and returns the answer line without its newline.
func (c *Client) Call(req string) (string, error) {
	if _, err := c.c.Write([]byte(req + "\n")); err != nil {
		return "", fmt.Errorf("licsim: send %q: %w", req, err)
	}
	ans, err := c.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("licsim: answer to %q: %w", req, err)
	}
	return strings.TrimRight(ans, "\n"), nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }

// Conn is the underlying connection.
func (c *Client) Conn() net.Conn { return c.c }
