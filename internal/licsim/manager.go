package licsim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Manager is a two-port license manager like FlexNet (lmgrd and a vendor
// daemon) or RLM (rlm and an ISV server): a master port that answers
// lookups and status queries and holds nothing, and a vendor port (a
// Server) where seats are held for as long as the connection lasts.
//
// As Revenera documents for FlexNet, a client first asks the master
// where its vendor daemon is, then connects to that port; the master
// connection is short. The master speaks lines:
//
//	"HELLO <vendor>" -> "VENDOR <vendor> PORT <port>", then close
//	                    ("ERR no vendor <vendor>" for another name)
//	"STATUS"         -> the status as `lmutil lmstat -a` (Kind "flexnet")
//	                    or `rlmutil rlmstat -a` (Kind "rlm") prints it,
//	                    then close
//
// The vendor port is a Server: "HELLO user@host" takes a seat (see the
// package comment).
//
// Typical usage:
//
//	m := &licsim.Manager{Kind: "flexnet", Vendor: "adskflex", Seats: 3}
//	if err := m.Listen("127.0.0.1:0", "127.0.0.1:0"); err != nil { ... }
//	defer m.Close()
//	c, err := licsim.Checkout(net.Dial, m.MasterAddr().String(), "adskflex", "alice@laptop")
type Manager struct {
	// Kind is "flexnet" or "rlm": it picks the status format. If empty, flexnet.
	Kind string
	// Vendor is the vendor daemon's or ISV server's name. If empty, "licsimd".
	Vendor string
	// Feature is the one feature (product) served. If empty, "cad".
	Feature string
	// Seats, IdleTimeout and Logger are the vendor Server's.
	Seats       int
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock the status prints. If nil, time.Now.
	Now func() time.Time

	// Server is the vendor daemon / ISV server, set by Listen or Serve.
	Server *Server

	mu      sync.Mutex
	master  net.Listener
	started time.Time
	wg      sync.WaitGroup
	closed  bool
	conns   map[net.Conn]struct{}
	lookups int64
}

func (m *Manager) vendor() string {
	if m.Vendor == "" {
		return "licsimd"
	}
	return m.Vendor
}

func (m *Manager) feature() string {
	if m.Feature == "" {
		return "cad"
	}
	return m.Feature
}

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *Manager) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Listen opens the master port and the vendor port (TCP only, as lmgrd's
// and rlm's are) and serves both.
func (m *Manager) Listen(masterAddr, vendorAddr string) error {
	ml, err := net.Listen("tcp", masterAddr)
	if err != nil {
		return fmt.Errorf("licsim: listen master %s: %w", masterAddr, err)
	}
	vl, err := net.Listen("tcp", vendorAddr)
	if err != nil {
		ml.Close()
		return fmt.Errorf("licsim: listen vendor %s: %w", vendorAddr, err)
	}
	m.Serve(ml, vl)
	return nil
}

// Serve serves on the given listeners until Close.
func (m *Manager) Serve(master, vendor net.Listener) {
	m.Server = &Server{Seats: m.Seats, IdleTimeout: m.IdleTimeout, Name: m.vendor(), Logger: m.Logger}
	m.Server.Serve(vendor, nil)
	m.mu.Lock()
	m.master, m.started, m.conns = master, m.now(), map[net.Conn]struct{}{}
	m.mu.Unlock()
	m.wg.Add(1)
	go m.masterLoop(master)
}

// MasterAddr is lmgrd's (rlm's) address; VendorAddr the vendor daemon's.
func (m *Manager) MasterAddr() net.Addr { return m.master.Addr() }

// VendorAddr is the vendor daemon's (ISV server's) address.
func (m *Manager) VendorAddr() net.Addr { return m.Server.Addr() }

// Lookups is the number of master connections served so far.
func (m *Manager) Lookups() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookups
}

// Close stops both ports.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed || m.master == nil {
		m.mu.Unlock()
		return net.ErrClosed
	}
	m.closed = true
	m.master.Close()
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return m.Server.Close()
}

func (m *Manager) masterLoop(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.conns[c] = struct{}{}
		m.lookups++
		m.wg.Add(1)
		m.mu.Unlock()
		go m.serveMaster(c)
	}
}

func (m *Manager) serveMaster(c net.Conn) {
	defer m.wg.Done()
	defer func() {
		c.Close()
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch cmd {
	case "HELLO":
		if arg != m.vendor() {
			fmt.Fprintf(c, "ERR no vendor %s\n", arg)
			return
		}
		_, port, _ := net.SplitHostPort(m.VendorAddr().String())
		fmt.Fprintf(c, "VENDOR %s PORT %s\n", m.vendor(), port)
		m.log().Debug("licsim lookup", slog.String("vendor", arg), slog.String("client", c.RemoteAddr().String()))
	case "STATUS":
		io.WriteString(c, m.Status())
	default:
		fmt.Fprintf(c, "ERR unknown command %q\n", cmd)
	}
}

// userHost splits a HELLO argument "user@host" (a bare name is the user,
// on the address it came from).
func userHost(h Holder) (user, host string) {
	if u, hst, ok := strings.Cut(h.Client, "@"); ok {
		return u, hst
	}
	host, _, _ = net.SplitHostPort(h.Remote)
	if h.Client == "" {
		return "unknown", host
	}
	return h.Client, host
}

// Status is the manager's status in its manager's format.
func (m *Manager) Status() string {
	if m.Kind == "rlm" {
		return m.rlmstat()
	}
	return m.lmstat()
}

func (m *Manager) ports() (master, vendor string) {
	_, master, _ = net.SplitHostPort(m.MasterAddr().String())
	_, vendor, _ = net.SplitHostPort(m.VendorAddr().String())
	return master, vendor
}

// lmstat prints `lmutil lmstat -a` as lmutil v11.19 does.
func (m *Manager) lmstat() string {
	now := m.now()
	mp, vp := m.ports()
	hs := m.Server.Holders()
	var b strings.Builder
	fmt.Fprintf(&b, "lmutil - Copyright (c) 1989-2024 Flexera. All Rights Reserved.\n")
	fmt.Fprintf(&b, "Flexible License Manager status on %s %d/%d/%d %d:%02d\n\n", now.Format("Mon"), now.Month(), now.Day(), now.Year(), now.Hour(), now.Minute())
	fmt.Fprintf(&b, "License server status: %s@licsim\n    License file(s) on licsim: licsim.lic:\n\n", mp)
	fmt.Fprintf(&b, "licsim: license server UP (MASTER) v11.19.6\n\nVendor daemon status (on licsim):\n\n")
	fmt.Fprintf(&b, "  %s: UP v11.19.6\nFeature usage info:\n\n", m.vendor())
	fmt.Fprintf(&b, "Users of %s:  (Total of %d licenses issued;  Total of %d licenses in use)\n\n", m.feature(), m.Server.seats(), len(hs))
	if len(hs) > 0 {
		fmt.Fprintf(&b, "  \"%s\" v1.0, vendor: %s, expiry: permanent(no expiration date)\n  floating license\n\n", m.feature(), m.vendor())
		for _, h := range hs {
			u, host := userHost(h)
			s := h.Since.In(now.Location())
			fmt.Fprintf(&b, "    %s %s /dev/tty (v1.0) (licsim/%s %d), start %s %d/%d %d:%02d\n", u, host, vp, 100+h.Seat, s.Format("Mon"), s.Month(), s.Day(), s.Hour(), s.Minute())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// rlmstat prints `rlmutil rlmstat -a` as rlmutil v15 does.
func (m *Manager) rlmstat() string {
	now := m.now()
	mp, vp := m.ports()
	hs := m.Server.Holders()
	up := now.Sub(m.started).Truncate(time.Second)
	upText := fmt.Sprintf("%02d:%02d:%02d", int(up.Hours()), int(up.Minutes())%60, int(up.Seconds())%60)
	var b strings.Builder
	fmt.Fprintf(&b, "Setting license file path to %s@licsim\nrlmutil v15.2\nCopyright (C) 2006-2023, Reprise Software, Inc. All rights reserved.\n\n\n", mp)
	fmt.Fprintf(&b, "\trlm status on licsim (port %s), up %s\n\trlm software version v15.2 (build:1)\n\n", mp, upText)
	fmt.Fprintf(&b, "\t--------- ISV servers ----------\n\t   Name           Port Running Restarts\n")
	fmt.Fprintf(&b, "\t%-16s %5s   Yes      0\n\n\t------------------------\n\n", m.vendor(), vp)
	fmt.Fprintf(&b, "\t%s ISV server status on licsim (port %s), up %s\n\n\t------------------------\n\n", m.vendor(), vp, upText)
	fmt.Fprintf(&b, "\t%s license pool status on licsim (port %s)\n\n", m.vendor(), vp)
	fmt.Fprintf(&b, "\t%s v1.0\n\t\tcount: %d, # reservations: 0, inuse: %d, exp: permanent\n\t\tobsolete: 0, min_remove: 120, total checkouts: %d\n\n",
		m.feature(), m.Server.seats(), len(hs), m.Server.Accepted())
	fmt.Fprintf(&b, "\n\t------------------------\n\n\t%s license usage status on licsim (port %s)\n\n", m.vendor(), vp)
	for _, h := range hs {
		u, host := userHost(h)
		s := h.Since.In(now.Location())
		fmt.Fprintf(&b, "\t%s v1.0: %s@%s 1/0 at %02d/%02d %02d:%02d  (handle: %x)\n", m.feature(), u, host, s.Month(), s.Day(), s.Hour(), s.Minute(), 0x100+h.Seat)
	}
	return b.String()
}

// ErrNoVendor: the master does not know the vendor asked for.
var ErrNoVendor = errors.New("licsim: no such vendor")

// Lookup asks a master where vendor's daemon is and returns its port.
func Lookup(dial func(network, address string) (net.Conn, error), masterAddr, vendor string) (int, error) {
	c, err := dial("tcp", masterAddr)
	if err != nil {
		return 0, fmt.Errorf("licsim: dial master %s: %w", masterAddr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "HELLO %s\n", vendor); err != nil {
		return 0, fmt.Errorf("licsim: lookup %s: %w", vendor, err)
	}
	ans, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("licsim: lookup %s: %w", vendor, err)
	}
	f := strings.Fields(ans)
	if len(f) != 4 || f[0] != "VENDOR" || f[2] != "PORT" {
		return 0, fmt.Errorf("%w: %s: %q", ErrNoVendor, vendor, strings.TrimSpace(ans))
	}
	port, err := strconv.Atoi(f[3])
	if err != nil {
		return 0, fmt.Errorf("licsim: lookup %s: bad port %q", vendor, f[3])
	}
	return port, nil
}

// Checkout does what a FlexNet or RLM client does: asks the master for the
// vendor daemon's port, connects to that port on the master's host and
// takes a seat as client ("user@host"). The returned Client holds the
// seat until closed; a full server answers BUSY (an error, the seat not
// taken).
func Checkout(dial func(network, address string) (net.Conn, error), masterAddr, vendor, client string) (*Client, error) {
	port, err := Lookup(dial, masterAddr, vendor)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(masterAddr)
	if err != nil {
		return nil, fmt.Errorf("licsim: master address %q: %w", masterAddr, err)
	}
	c, err := dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("licsim: dial vendor port %d: %w", port, err)
	}
	lc := NewClient(c)
	ans, err := lc.Call("HELLO " + client)
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.HasPrefix(ans, "OK ") {
		c.Close()
		return nil, fmt.Errorf("licsim: checkout on port %d: %s", port, ans)
	}
	return lc, nil
}

// FetchStatus reads a master's STATUS answer.
func FetchStatus(dial func(network, address string) (net.Conn, error), masterAddr string) (string, error) {
	c, err := dial("tcp", masterAddr)
	if err != nil {
		return "", fmt.Errorf("licsim: dial master %s: %w", masterAddr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "STATUS\n"); err != nil {
		return "", fmt.Errorf("licsim: status: %w", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("licsim: status: %w", err)
	}
	return string(b), nil
}
