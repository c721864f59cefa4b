package benchkit

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// RoleEnv names the role a copy of the benchmark runs in. The benchmark
// starts copies of itself in roles, so that servers and proxies do not
// share a Go runtime with the measuring client.
const RoleEnv = "LICGATE_BENCH_ROLE"

// Serve answers each connection by its first byte: 'P' is ping-pong (64-byte
// request, 256-byte reply), 'B' is bulk (read to EOF, answer one byte),
// 'D' is bulk download (an 8-byte big-endian length, answered by that many
// bytes, then EOF), 'H' is a license-style heartbeat line protocol (see heartbeat).
func Serve(ln net.Listener) {
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

// Child starts this binary in a role and reads the address it prints.
func Child(ctx context.Context, role string, env ...string) (string, *exec.Cmd) {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	cmd.Env = append(append(os.Environ(), RoleEnv+"="+role), env...)
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

// External starts a program and waits until addr accepts connections.
func External(ctx context.Context, addr string, name string, args ...string) (*exec.Cmd, error) {
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
