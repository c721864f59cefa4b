package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/licgate/licgate/service"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
	"github.com/licgate/licgate/config"
)

// defaultConfig is the platform's config file: /etc/licgate/licgate.yaml,
// %ProgramData%\\licgate\\licgate.yaml, /usr/local/etc/licgate/... .
var defaultConfig = service.Paths().Config

// defaultSocket is the daemon's socket when the config cannot be read.
var defaultSocket = service.Paths().Socket

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one entry of the command table. A group (user, device,
// policy, ...) has no setup: it lists its subcommands. A command may be
// both (sessions: a listing, and `sessions cut ID`).
type command struct {
	// name is the words that select the command: "device add".
	name string
	// synopsis follows the name in usage lines: "USER NAME [--out PREFIX]".
	synopsis string
	// short is the one-line description in listings.
	short string
	// help is the longer text of `licgate help NAME` (may be empty).
	help string
	// nargs is the number of positional arguments (-1: any, checked by run).
	nargs int
	// daemon: the command talks to the daemon (adds -c and -socket).
	daemon bool
	// listing: the command prints a table, or JSON with --json.
	listing bool
	// setup defines the command's flags and returns its run function,
	// which reads them.
	setup func(fs *flag.FlagSet) clikit.RunFunc
}

// aliases are other spellings of a command's first word.
var aliases = map[string]string{"users": "user", "devices": "device", "session": "sessions"}

// lookup is the command named exactly name, or nil.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// children are the commands one word below name ("" for the top level).
func children(name string) []*command {
	var out []*command
	depth := 0
	if name != "" {
		depth = len(strings.Fields(name))
	}
	for i := range commands {
		c := &commands[i]
		w := strings.Fields(c.name)
		if len(w) == depth+1 && strings.Join(w[:depth], " ") == name {
			out = append(out, c)
		}
	}
	return out
}

// valueFlags always take a value in the next argument; find skips them
// when it looks for command words (`licgate -c FILE user list`).
var valueFlags = []string{"-c", "--c", "-socket", "--socket"}

// find picks the command from args: the longest run of words (flags
// skipped) that names a command. A word right after another flag that
// does not name a command is taken for that flag's value and skipped
// (`licgate user --email a@b add alice`). It returns the command (nil if
// none), the arguments without the command's words, and the first word
// that did not match (if any).
func find(args []string) (*command, []string, string) {
	var best *command
	var used []int // indexes of best's words
	var cur []int
	name, unknown := "", ""
	afterFlag := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			if slices.Contains(valueFlags, a) {
				i++
				afterFlag = false
			} else {
				afterFlag = !strings.Contains(a, "=")
			}
			continue
		}
		w := a
		if name == "" {
			if al, ok := aliases[w]; ok {
				w = al
			}
		}
		next := strings.TrimSpace(name + " " + w)
		if c := lookup(next); c != nil {
			name = next
			cur = append(cur, i)
			best, used = c, slices.Clone(cur)
			afterFlag = false
			continue
		}
		if afterFlag {
			afterFlag = false
			continue
		}
		unknown = a
		break
	}
	if best == nil {
		return nil, args, unknown
	}
	rest := make([]string, 0, len(args))
	for i, a := range args {
		if !slices.Contains(used, i) {
			rest = append(rest, a)
		}
	}
	return best, rest, unknown
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage())
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, topUsage())
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	if args[0] == "help" {
		return cmdHelp(args[1:], stdout, stderr)
	}
	c, rest, extra := find(args)
	if c == nil {
		if extra == "" {
			fmt.Fprintf(stderr, "licgate: no command in %q\n\n%s", strings.Join(args, " "), topUsage())
		} else {
			fmt.Fprintf(stderr, "licgate: unknown command %q\n\n%s", extra, topUsage())
		}
		return 2
	}
	if c.setup == nil {
		// A group: `licgate user`, `licgate user --help`, `licgate user frob`.
		if slices.ContainsFunc(rest, isHelp) && extra == "" {
			fmt.Fprint(stdout, commandUsage(c, nil))
			return 0
		}
		if extra != "" {
			fmt.Fprintf(stderr, "licgate %s: unknown command %q\n\n", c.name, extra)
		}
		fmt.Fprint(stderr, commandUsage(c, nil))
		return 2
	}
	fs, runner, e := newFlagSet(c, stdout, stderr)
	pos, err := parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandUsage(c, fs))
		return 0
	}
	if err == nil && c.nargs >= 0 && len(pos) != c.nargs {
		if len(pos) > c.nargs && len(children(c.name)) > 0 {
			err = clikit.Usagef("unknown command %q", pos[0])
		} else {
			err = clikit.Usagef("%s takes %d argument(s), got %d", c.name, c.nargs, len(pos))
		}
	}
	if err == nil {
		err = runner(e, pos)
	}
	if err != nil {
		var ue clikit.UsageError
		if errors.As(err, &ue) || isFlagError(err) {
			fmt.Fprintf(stderr, "licgate %s: %v\n\n%s", c.name, err, commandUsage(c, fs))
			return 2
		}
		if !errors.Is(err, clikit.ErrFailed) {
			fmt.Fprintf(stderr, "licgate %s: %v\n", c.name, err)
		}
		return 1
	}
	return 0
}

// flagError marks an error of flag parsing (unknown flag, bad value).
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// newFlagSet builds c's flag set with the shared flags and returns its
// run function and environment.
func newFlagSet(c *command, stdout, stderr io.Writer) (*flag.FlagSet, clikit.RunFunc, *clikit.Env) {
	fs := flag.NewFlagSet("licgate "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e := &clikit.Env{Ctx: context.Background(), Stdout: stdout, Stderr: stderr}
	if c.daemon {
		e.Client = clientFlags(fs)
	}
	return fs, c.setup(fs), e
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, topUsage())
		return 0
	}
	c, _, extra := find(args)
	if c == nil || extra != "" {
		fmt.Fprintf(stderr, "licgate help: no command %q\n\n%s", strings.Join(args, " "), topUsage())
		return 2
	}
	var fs *flag.FlagSet
	if c.setup != nil {
		fs, _, _ = newFlagSet(c, stdout, stderr)
	}
	fmt.Fprint(stdout, commandUsage(c, fs))
	return 0
}

// parse parses flags anywhere among the arguments and returns the rest
// ("--" ends the flags).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// clientFlags adds -c and -socket and returns a function giving the client.
func clientFlags(fs *flag.FlagSet) func() (*adminapi.Client, error) {
	cfgPath := fs.String("c", defaultConfig, "config `FILE` (for its socket path)")
	socket := fs.String("socket", "", "admin API socket `PATH` (overrides the config; also $LICGATE_SOCKET)")
	return func() (*adminapi.Client, error) {
		s := *socket
		if s == "" {
			s = os.Getenv("LICGATE_SOCKET")
		}
		if s == "" {
			cfg, err := config.Load(*cfgPath)
			switch {
			case errors.Is(err, iofs.ErrPermission):
				// The config is the daemon's (0640, group licgate): a
				// user who may not read it may not use the socket
				// either; the platform's socket path gets them the
				// error that says so, and how to fix it.
				s = defaultSocket
			case err != nil:
				return nil, err
			default:
				s = cfg.Socket
			}
		}
		return adminapi.NewClient(s), nil
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
