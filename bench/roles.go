package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/licgate/licgate/proxy"
	"github.com/licgate/licgate/session"

	"github.com/licgate/licgate/acl"
)

// The benchmark starts copies of itself in roles, so that servers and
// proxies do not share a Go runtime with the measuring client.
const roleEnv = "LICGATE_BENCH_ROLE"

func runRole(role string) {
	switch role {
	case "server":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Println(ln.Addr())
		serve(ln)
	case "proxy":
		if n, err := strconv.Atoi(os.Getenv("LICGATE_BENCH_PROXY_PROCS")); err == nil && n > 0 {
			runtime.GOMAXPROCS(n)
		}
		upstream := os.Getenv("LICGATE_BENCH_UPSTREAM")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		p := &proxy.Proxy{
			Service: "bench", Upstream: upstream,
			Identify: func(a netip.Addr) (*session.Identity, bool) {
				return &session.Identity{DeviceID: 1, Device: "d", User: "u", Address: a}, true
			},
			Authorize: func(*session.Identity, string, acl.Counts) (session.Admission, error) {
				return session.Admission{}, nil
			},
			Sessions: session.NewSessionTable(),
		}
		fmt.Println(ln.Addr())
		p.ServeTCP(ln)
	case "lanserver":
		lanServer()
	default:
		fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
		os.Exit(2)
	}
}

// serve answers each connection by its first byte: 'P' is ping-pong (64-byte
// request, 256-byte reply), 'B' is bulk (read to EOF, answer one byte),
// 'D' is bulk download (an 8-byte big-endian length, answered by that many
// bytes, then EOF), 'H' is a license-style heartbeat line protocol (see heartbeat).
func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

func handle(c net.Conn) {
	defer c.Close()
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case 'P':
		req := make([]byte, 64)
		resp := make([]byte, 256)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	case 'B':
		io.Copy(io.Discard, c)
		c.Write([]byte{1})
	case 'D':
		var n [8]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		chunk := make([]byte, 256<<10)
		for left := int64(binary.BigEndian.Uint64(n[:])); left > 0; left -= int64(len(chunk)) {
			if _, err := c.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
				return
			}
		}
	case 'H':
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			c.Write([]byte(line))
		}
	}
}

// child starts this binary in a role and reads the address it prints.
func child(ctx context.Context, role string, env ...string) (string, *exec.Cmd) {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		panic(fmt.Sprintf("%s did not start: %v", role, err))
	}
	return line[:len(line)-1], cmd
}

// external starts a program and waits until addr accepts connections.
func external(ctx context.Context, addr string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not listen on %s", name, addr)
}
