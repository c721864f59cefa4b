package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// SchemaVersion is the schema every backend migrates to: a version means
// the same rows on SQLite, bbolt and PostgreSQL (Backend.Version returns
// it once opened). A new version is added to every backend in one change.
func SchemaVersion() int { return 8 }

// PrepareStateDir creates dir (mode 0700) if needed and checks that it
// takes a write and an fsync, so that a read-only or full directory is
// reported as such before a database engine reports it as "unable to
// open database file". Errors wrap ErrStateDir and name dir.
func PrepareStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStateDir, dir, err)
	}
	if err := probeWritable(dir); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStateDir, dir, err)
	}
	return nil
}

// StateDirError wraps err, which a backend has found to concern its
// storage, in ErrStateDir naming dir and saying what is wrong with it:
// full (full, or a probe write finds ENOSPC), not writable (readOnly, or
// the probe finds EROFS or a permission error) or an I/O error. Engines
// report a full disk as a plain I/O error at times, so the probe decides.
func StateDirError(dir string, err error, full, readOnly bool) error {
	perr := probeWritable(dir)
	what := "has an I/O error"
	switch {
	case full, errors.Is(err, syscall.ENOSPC), errors.Is(perr, syscall.ENOSPC):
		what = "is full"
	case readOnly, errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission),
		errors.Is(perr, syscall.EROFS), errors.Is(perr, fs.ErrPermission):
		what = "is not writable"
	}
	return fmt.Errorf("%w: %s %s: %w", ErrStateDir, dir, what, err)
}

// probeWritable writes, syncs and removes a small file in dir.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".licgate-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 512))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
