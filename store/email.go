package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmail is the longest e-mail address accepted (RFC 5321's path
// limit, less the angle brackets).
const MaxEmail = 254

// ValidEmail checks a user's e-mail address. Empty is allowed (no
// address). It is a plain addr-spec, local@domain, and nothing a mail
// header, a terminal or a spreadsheet could read as more than that:
// no CR, LF or other control or format characters, no white space, no
// display name or comment ("Alice <a@b>", "(x)"), no quoting, exactly one
// '@', no leading '=', '+', '-' or '@' (a CSV export opened in a
// spreadsheet would run it as a formula), at most MaxEmail bytes.
// Errors wrap ErrInvalid and say what is wrong.
func ValidEmail(email string) error {
	if email == "" {
		return nil
	}
	if problem := emailProblem(email); problem != "" {
		return fmt.Errorf("%w: email %q: %s", ErrInvalid, email, problem)
	}
	return nil
}

func emailProblem(e string) string {
	if len(e) > MaxEmail {
		return fmt.Sprintf("longer than %d bytes", MaxEmail)
	}
	if !utf8.ValidString(e) {
		return "not UTF-8"
	}
	for _, r := range e {
		switch {
		case r == '\r' || r == '\n':
			return "contains a line break"
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	if strings.ContainsAny(e, "<>") {
		return `looks like a display name ("Name <local@domain>"): give the bare address`
	}
	if strings.ContainsRune("=+-@", rune(e[0])) {
		return fmt.Sprintf("starts with %q (a spreadsheet would read it as a formula)", e[0])
	}
	for _, r := range e {
		switch {
		case unicode.IsSpace(r):
			return "contains white space"
		case strings.ContainsRune(`"(),;:\[]`, r):
			return fmt.Sprintf("contains %q: give the bare address (local@domain), without a comment or quotes", r)
		}
	}
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case !ok:
		return "has no '@'"
	case strings.Contains(domain, "@"):
		return "has more than one '@'"
	case local == "" || domain == "":
		return "needs a name before and a domain after the '@'"
	case len(local) > 64:
		return "the part before the '@' is longer than 64 bytes"
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "the domain is malformed"
	}
	return ""
}
