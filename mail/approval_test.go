package mail

import (
	"strings"
	"testing"
	"time"
)

// TestApprovalMessage: the admins' message names who, what, when and the
// commands; names with line breaks and missing fields are refused; HTML
// is escaped.
func TestApprovalMessage(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	d := ApprovalData{To: []string{"it@example.org"}, Organization: "Example Architects", User: "dave", Address: "dave@example.org",
		Device: "laptop", PublicKey: "KEY=", TunnelIP: "10.44.0.7", Requested: at, Expires: at.Add(72 * time.Hour),
		ConsoleURL: "https://10.44.0.1"}
	m, err := Approval(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dave (signed in as dave@example.org)", "laptop, tunnel address 10.44.0.7", "KEY=",
		"Sunday, 6 December 2026, 09:00 UTC", "Wednesday, 9 December 2026, 09:00 UTC",
		"sudo licgate device approve dave laptop", "sudo licgate device deny dave laptop", "https://10.44.0.1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if m.Subject != `Example Architects: dave asks for a new device "laptop" (approval needed)` || len(m.To) != 1 {
		t.Errorf("subject %q, to %v", m.Subject, m.To)
	}
	e := d
	e.Device = "<b>x</b>"
	if m, err := Approval(e); err != nil || strings.Contains(m.HTML, "<b>x</b>") || !strings.Contains(m.HTML, "&lt;b&gt;x&lt;/b&gt;") {
		t.Errorf("HTML not escaped: %v\n%s", err, m.HTML)
	}
	for name, bad := range map[string]func(*ApprovalData){
		"line break": func(d *ApprovalData) { d.User = "dave\r\nBcc: x@example.org" },
		"no to":      func(d *ApprovalData) { d.To = nil },
		"no expiry":  func(d *ApprovalData) { d.Expires = time.Time{} },
	} {
		e := d
		bad(&e)
		if _, err := Approval(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	e = d
	e.Organization = ""
	if m, err := Approval(e); err != nil || !strings.HasPrefix(m.Subject, "licgate: ") {
		t.Errorf("without organization: %q %v", m.Subject, err)
	}
}
