//go:build !windows

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hangingACME accepts connections and never answers: an ACME CA that
// does not answer. Events go to ev: "acme connected", "acme gave up"
// (the client closed its connection).
func hangingACME(t *testing.T, ev chan<- string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ev <- "acme connected"
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(io.Discard, c) // until the client gives up (or the test ends)
				c.Close()
				ev <- "acme gave up"
			}()
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServeNeverWaitsForACME: with an ACME CA that does not answer,
// `licgate serve` says "licgate started" (the WireGuard endpoint and the
// proxy are up) before certificate work ends: with an IP address as the
// public name ACME is never asked at all; with a DNS name it is asked in
// the background, the internal CA's certificate served meanwhile. Standard
// input is a pipe holding an e-mail address: serve never reads it (no
// certmagic prompt). Order of events, not time.
func TestServeNeverWaitsForACME(t *testing.T) {
	if os.Getenv("LICGATE_SERVEACME_CHILD") != "" {
		os.Exit(run(os.Args[len(os.Args)-3:], os.Stdout, os.Stderr))
	}
	for _, name := range []string{"127.0.0.1", "office.example.test"} {
		t.Run(name, func(t *testing.T) {
			ev := make(chan string, 100)
			acme := hangingACME(t, ev)
			dir, err := os.MkdirTemp("", "lgacme") // short: the socket path must fit
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			cfg := filepath.Join(dir, "licgate.yaml")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
tunnel: {listen_port: 0, endpoint: %s}
services: [{name: codemeter, port: 22350, upstream: "127.0.0.1:1"}]
public:
  listen: 127.0.0.1:0
  name: %s
  acme: {directory: "https://%s/dir", http_port: %d, tls_alpn_port: %d, listen_host: 127.0.0.1}
`, dir, name, name, acme, freeTCPPort(t), freeTCPPort(t))), 0o600)
			stdinR, stdinW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdinR.Close()
			defer stdinW.Close()
			const answer = "it@example.test\n"
			if _, err := stdinW.WriteString(answer); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestServeNeverWaitsForACME$", "serve", "-c", cfg)
			cmd.Env = append(os.Environ(), "LICGATE_SERVEACME_CHILD=1")
			cmd.Stdin = stdinR
			stderr, _ := cmd.StderrPipe()
			var stdout strings.Builder
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			logDone := make(chan struct{})
			go func() {
				defer close(logDone)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					logs.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "licgate started") {
						ev <- "licgate started"
					}
				}
			}()
			stopped := false
			stop := func() {
				if !stopped {
					stopped = true
					cmd.Process.Signal(syscall.SIGTERM)
					<-logDone
					cmd.Wait()
				}
			}
			defer stop()
			var order []string
			next := func() string {
				select {
				case e := <-ev:
					order = append(order, e)
					return e
				case <-time.After(90 * time.Second): // a guard against hanging forever, not a measurement
					stop()
					t.Fatalf("events so far %v; no further event in 90s\nlogs:\n%s", order, logs.String())
					return ""
				}
			}
			for e := next(); e != "licgate started"; e = next() {
				if name == "127.0.0.1" && e == "acme connected" {
					stop()
					t.Fatalf("ACME asked for the IP address %s before the start: %v\n%s", name, order, logs.String())
				}
				if e == "acme gave up" {
					stop()
					t.Fatalf("licgate started only after ACME gave up: %v\n%s", order, logs.String())
				}
			}
			if name != "127.0.0.1" && !slices.Contains(order, "acme connected") {
				for next() != "acme connected" { // ACME is asked in the background
				}
			}
			stop()
			if strings.Contains(stdout.String(), "Email address") || strings.Contains(logs.String(), "Email address") {
				t.Errorf("serve prompted for an e-mail address:\n%s%s", stdout.String(), logs.String())
			}
			// What serve left in its standard input is still there.
			stdinR.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, len(answer))
			n, err := io.ReadFull(stdinR, buf)
			if err != nil || string(buf[:n]) != answer {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					err = errors.New("nothing left: serve read it")
				}
				t.Errorf("standard input after serve: %q, %v (want %q untouched)", buf[:n], err, answer)
			}
			t.Logf("order of events: %v", order)
		})
	}
}
