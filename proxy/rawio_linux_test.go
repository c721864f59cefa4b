package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected pair of kernel TCP sockets on loopback; a is
// wrapped for raw I/O.
func tcpPair(t *testing.T) (a net.Conn, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	a = rawIO(c)
	if _, ok := a.(*rawTCP); !ok {
		t.Fatalf("rawIO(%T) = %T", c, a)
	}
	return a, s.(*net.TCPConn)
}

// Bulk both ways through raw reads and writes arrives whole: partial
// writes and waits on a full send buffer (the other side reads slowly).
func TestRawIOBulk(t *testing.T) {
	a, b := tcpPair(t)
	blob := make([]byte, 8<<20)
	rand.Read(blob)
	sum := sha256.Sum256(blob)
	go func() {
		time.Sleep(50 * time.Millisecond) // let a's send buffer fill
		io.Copy(b, b)                     // echo
		b.CloseWrite()
	}()
	errc := make(chan error, 1)
	go func() {
		n, err := a.Write(blob)
		if err == nil && n != len(blob) {
			err = io.ErrShortWrite
		}
		if err == nil {
			err = a.(*rawTCP).CloseWrite()
		}
		errc <- err
	}()
	h := sha256.New()
	buf := make([]byte, 3000)
	var got int
	for {
		n, err := a.Read(buf)
		h.Write(buf[:n])
		got += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got != len(blob) || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("echoed %d bytes, changed", got)
	}
}

func TestRawIOErrors(t *testing.T) {
	a, _ := tcpPair(t)
	if n, err := a.Read(nil); n != 0 || err != nil {
		t.Errorf("empty read: %d %v", n, err)
	}
	// A deadline ends a waiting read as it would on net.Conn.
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past deadline: %v", err)
	}
	a.SetReadDeadline(time.Time{})
	// Closing from another goroutine ends a waiting read.
	go func() { time.Sleep(20 * time.Millisecond); a.Close() }()
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on closed conn: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on closed conn: %v", err)
	}

	// Writing to a peer that reset the connection is an error, not a
	// signal that kills the process.
	c, d := tcpPair(t)
	d.SetLinger(0)
	d.Close() // RST
	time.Sleep(20 * time.Millisecond)
	var err error
	for range 10 {
		if _, err = c.Write(make([]byte, 1000)); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Error("writes to a reset connection kept succeeding")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Errorf("write error %v is not a *net.OpError for write", err)
	}
}
