package mail

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Invite is one row of the no-SMTP export.
type Invite struct{ Name, Email, Link string }

// WriteCSV writes a header "name,email,link" and one row per invite, for
// offices without an SMTP server (a mail merge sends them). Quoting
// follows RFC 4180 (encoding/csv). A cell that a spreadsheet would run as
// a formula (starting with = + - @, a tab or a carriage return) gets a
// leading apostrophe, the usual defence against CSV injection.
func WriteCSV(w io.Writer, invites []Invite) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write([]string{"name", "email", "link"}); err != nil {
		return fmt.Errorf("mail: csv: %w", err)
	}
	for _, in := range invites {
		if err := cw.Write([]string{defuse(in.Name), defuse(in.Email), defuse(in.Link)}); err != nil {
			return fmt.Errorf("mail: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("mail: csv: %w", err)
	}
	return nil
}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
