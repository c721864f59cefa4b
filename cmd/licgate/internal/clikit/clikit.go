// Package clikit is what the licgate command's packages share: the
// environment a command runs in, its errors (a usage error exits 2, a
// reported failure 1), and its output (tables for people, JSON for
// scripts) and argument checks.
package clikit

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/licgate/licgate/adminapi"
)

// Env is what a command's run function gets.
type Env struct {
	Ctx            context.Context
	Stdout, Stderr io.Writer
	// Client is the daemon's API client (commands with daemon set).
	Client func() (*adminapi.Client, error)
	// JSON: a listing prints JSON (--json) instead of a table.
	JSON bool
}

// RunFunc runs a command with its positional arguments (flags parsed).
type RunFunc func(e *Env, args []string) error

// UsageError is a command used wrongly: usage on stderr, exit status 2.
type UsageError struct{ msg string }

func (e UsageError) Error() string { return e.msg }

// Usagef is a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Sprintf(format, args...)} }

// ErrFailed: the command has said why it failed; exit 1 quietly.
var ErrFailed = errors.New("failed")

// Listing is every listing's shape: fetch from the daemon, then JSON
// (--json) or a table for people.
func Listing[T any](e *Env, fetch func(*adminapi.Client) (T, error), table func(T) error) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	v, err := fetch(c)
	if err != nil {
		return err
	}
	if e.JSON {
		return PrintJSON(e.Stdout, v)
	}
	return table(v)
}
