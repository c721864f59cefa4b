package clikit

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// PrintJSON writes v indented, for scripts (--json).
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Table is a listing for people: aligned columns under a header.
type Table struct{ tw *tabwriter.Writer }

func NewTable(w io.Writer, header ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	return t
}

func (t *Table) Row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
		// A cell with a line break, tab, escape or bidi control (an
		// e-mail stored by an older version) would forge rows: quote it.
		if strings.ContainsFunc(s[i], func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
			s[i] = strconv.Quote(s[i])
		}
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *Table) Flush() error { return t.tw.Flush() }

// When is an optional time for a table: "-" if unset.
func When(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
