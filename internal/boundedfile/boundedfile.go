// Package boundedfile reads a file that licgate was told to read (its
// config, a policy, a key, a certificate, a secret) without trusting its
// size: only regular files are read, and no more than a limit. A device
// such as /dev/zero would otherwise be read until memory ran out, and a
// FIFO would block the reader forever.
//
// Typical usage:
//
//	data, err := boundedfile.Read("/etc/licgate/licgate.yaml", boundedfile.Config)
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits for the kinds of files licgate reads.
const (
	// Config bounds a config or policy file: a real one is a few KiB.
	Config = 4 << 20
	// Secret bounds a password, token, key or DSN file: one line.
	Secret = 64 << 10
	// PEM bounds a certificate bundle or key in PEM.
	PEM = 4 << 20
)

// Errors, wrapped with the path and sizes.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooBig     = errors.New("file too big")
)

// Read returns the content of the regular file path, at most max bytes.
// A directory, device, FIFO or socket is refused before it is read (a
// FIFO is never opened); a bigger file is refused from its size, without
// reading it, and a file that grows past max while read is refused too.
// Errors name the path.
func Read(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err // *PathError names the path
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The path may have been replaced between Stat and Open.
	if st, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w: it grew past %d bytes while read", path, ErrTooBig, max)
	}
	return data, nil
}

func check(path string, st fs.FileInfo, max int64) error {
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(st.Mode()))
	}
	if st.Size() > max {
		return fmt.Errorf("%s: %w: %d bytes, at most %d", path, ErrTooBig, st.Size(), max)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}
