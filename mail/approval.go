package mail

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// ApprovalData fills the message that asks admins to approve a device
// (sign-in enrolment with signin.enrol.approval).
type ApprovalData struct {
	To           []string  // the admins' addresses. Required.
	Organization string    // the office, for the subject; if empty, "licgate"
	User         string    // the licgate user. Required.
	Address      string    // the address the person signed in with
	Device       string    // the device's name. Required.
	PublicKey    string    // the device's WireGuard public key
	TunnelIP     string    // the tunnel address reserved for it
	Requested    time.Time // when. Required.
	Expires      time.Time // when the request ends unanswered. Required.
	ConsoleURL   string    // where the console's queue is; optional
}

// Approval renders the request to the admins: who, what, when, until
// when, and the commands that approve or deny it.
func Approval(d ApprovalData) (Message, error) {
	if d.Organization == "" {
		d.Organization = "licgate"
	}
	if len(d.To) == 0 || d.User == "" || d.Device == "" || d.Requested.IsZero() || d.Expires.IsZero() {
		return Message{}, fmt.Errorf("mail: approval request: to, user, device, requested and expires are required")
	}
	if strings.ContainsAny(d.Organization+d.User+d.Device+d.Address, "\r\n") {
		return Message{}, fmt.Errorf("mail: approval request: line break in a name")
	}
	v := struct {
		ApprovalData
		When, Until string
	}{d, d.Requested.Format("Monday, 2 January 2006, 15:04 MST"), d.Expires.Format("Monday, 2 January 2006, 15:04 MST")}
	var text, html bytes.Buffer
	if err := textApproval.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("mail: approval text: %w", err)
	}
	if err := htmlApproval.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("mail: approval html: %w", err)
	}
	return Message{
		To:      d.To,
		Subject: fmt.Sprintf("%s: %s asks for a new device %q (approval needed)", d.Organization, d.User, d.Device),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

var textApproval = texttemplate.Must(texttemplate.New("text").Parse(`A new device waits for your approval.

Who:       {{.User}}{{if .Address}} (signed in as {{.Address}}){{end}}
Device:    {{.Device}}{{if .TunnelIP}}, tunnel address {{.TunnelIP}}{{end}}
{{if .PublicKey}}Key:       {{.PublicKey}}
{{end}}When:      {{.When}}
Ends:      {{.Until}} (unanswered, the request is dropped)

It cannot connect until an admin approves it. On the gateway:

   sudo licgate device approve {{.User}} {{.Device}}
   sudo licgate device deny {{.User}} {{.Device}}

   sudo licgate device pending      (every request waiting)
{{if .ConsoleURL}}
Or in the console: {{.ConsoleURL}}
{{end}}
If you do not know this request, deny it.
`))

var htmlApproval = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Device approval</title></head>
<body style="font-family: sans-serif; line-height: 1.4">
<p>A new device waits for your approval.</p>
<table>
<tr><td>Who</td><td>{{.User}}{{if .Address}} (signed in as {{.Address}}){{end}}</td></tr>
<tr><td>Device</td><td>{{.Device}}{{if .TunnelIP}}, tunnel address {{.TunnelIP}}{{end}}</td></tr>
{{if .PublicKey}}<tr><td>Key</td><td><code>{{.PublicKey}}</code></td></tr>{{end}}
<tr><td>When</td><td>{{.When}}</td></tr>
<tr><td>Ends</td><td>{{.Until}} (unanswered, the request is dropped)</td></tr>
</table>
<p>It cannot connect until an admin approves it. On the gateway:</p>
<pre>sudo licgate device approve {{.User}} {{.Device}}
sudo licgate device deny {{.User}} {{.Device}}</pre>
{{if .ConsoleURL}}<p>Or in the console: <a href="{{.ConsoleURL}}">{{.ConsoleURL}}</a></p>{{end}}
<p>If you do not know this request, deny it.</p>
</body></html>
`))
