package main

import (
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
)

const about = "licgate: remote access to office license servers over WireGuard"

// topUsage lists every command of the table.
func topUsage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nusage: licgate COMMAND [ARGS] [FLAGS]\n\ncommands:\n", about)
	const width = 40
	for i := range commands {
		c := &commands[i]
		if c.setup == nil {
			continue
		}
		line := strings.TrimSpace(c.name + " " + c.synopsis)
		if len(line) > width {
			fmt.Fprintf(&b, "  %s\n  %-*s  %s\n", line, width, "", c.short)
		} else {
			fmt.Fprintf(&b, "  %-*s  %s\n", width, line, c.short)
		}
	}
	b.WriteString(`
Commands that talk to the daemon take -c FILE (default ` + defaultConfig + `)
or -socket PATH (or $LICGATE_SOCKET). Listings print a table, or JSON with --json.
Flags may come before or after the arguments.

licgate help COMMAND, or licgate COMMAND --help, explains a command.
`)
	return b.String()
}

// commandUsage is the help of one command or group; fs (may be nil) is
// the command's flag set.
func commandUsage(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	subs := children(c.name)
	if c.setup != nil {
		fmt.Fprintf(&b, "usage: licgate %s\n", strings.TrimSpace(c.name+" "+c.synopsis))
	} else {
		fmt.Fprintf(&b, "usage: licgate %s COMMAND ...\n", c.name)
	}
	fmt.Fprintf(&b, "\n%s\n", c.short)
	if c.help != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(c.help))
	}
	if len(subs) > 0 {
		b.WriteString("\ncommands:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  licgate %s\t%s\n", strings.TrimSpace(s.name+" "+s.synopsis), s.short)
		}
		tw.Flush()
	}
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			b.WriteString("\nflags:\n")
			out := fs.Output()
			fs.SetOutput(&b)
			fs.PrintDefaults()
			fs.SetOutput(out)
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(&b, "\nlicgate help %s COMMAND explains each.\n", c.name)
	}
	return b.String()
}
