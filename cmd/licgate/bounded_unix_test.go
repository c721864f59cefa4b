//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeCheckBoundedFiles (issue 23, finding 7): `serve --check` fails
// at once, naming the file, when admin.token_file is /dev/zero or a FIFO
// (it passed, and serve grew to 2.36 GB), and when the config itself is
// 300 MB (sparse here: refused from its size), /dev/zero or a FIFO.
func TestServeCheckBoundedFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(300 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	withToken := func(name, tokenFile string) string {
		p := filepath.Join(dir, name)
		body := fmt.Sprintf("state_dir: %s\nadmin:\n  lan_listen: 127.0.0.1:0\n  token_file: %s\n", dir, tokenFile)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ name, config, want string }{
		{"token /dev/zero", withToken("zero.yaml", "/dev/zero"), "admin.token_file: /dev/zero: not a regular file"},
		{"token FIFO", withToken("fifo.yaml", fifo), "admin.token_file: " + fifo + ": not a regular file"},
		{"config 300 MB", huge, huge + ": file too big: 314572800 bytes"},
		{"config /dev/zero", "/dev/zero", "/dev/zero: not a regular file"},
		{"config FIFO", fifo, fifo + ": not a regular file"},
	} {
		start := time.Now()
		out, code := cli(t, "serve", "--check", "-c", tc.config)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, %s\nwant %q", tc.name, code, out, tc.want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v", tc.name, d)
		}
	}
	// A good token passes.
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(strings.Repeat("t", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "serve", "--check", "-c", withToken("good.yaml", tok)); code != 0 {
		t.Errorf("good token: exit %d, %s", code, out)
	}
}
