package clikit

import (
	"bytes"
	"strings"
	"testing"
)

// A table cell with control characters is quoted, so it cannot forge
// rows (issue 23, finding 8: e-mails with CR/LF were printed raw).
func TestTableQuotesControlCharacters(t *testing.T) {
	var b bytes.Buffer
	tw := NewTable(&b, "NAME", "EMAIL")
	tw.Row("dave", "dave@example.test\r\nmallory\tmallory@evil.example")
	tw.Row("erin", "erin\u202e@example.test")
	tw.Row("alice", "alice@example.test")
	tw.Flush()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "\u202e") ||
		!strings.Contains(lines[1], `"dave@example.test\r\nmallory\tmallory@evil.example"`) || !strings.Contains(lines[3], "alice@example.test") {
		t.Errorf("table:\n%s", b.String())
	}
}
