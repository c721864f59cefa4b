package mail

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

// ErrBadInvitation is returned for invitation data that cannot make a
// safe message.
var ErrBadInvitation = errors.New("mail: bad invitation")

// InvitationData fills the enrolment invitation.
type InvitationData struct {
	To           string    // recipient address, "Name <addr>" or bare. Required.
	Name         string    // how to greet; if empty, the address's name part or "Hello,"
	Organization string    // who invites, "Example Architects". Required.
	Link         string    // the single-use enrolment URL, https. Required.
	Expires      time.Time // when the link stops working, shown in its own location. Required.
	Contact      string    // who to ask for help (an address or a phone number); optional
}

// App is one official WireGuard client.
type App struct{ OS, Where, URL string }

// Apps are the official WireGuard clients the invitation points to.
var Apps = []App{
	{"Windows", "the installer from wireguard.com", "https://www.wireguard.com/install/"},
	{"macOS", "the Mac App Store", "https://apps.apple.com/app/wireguard/id1451685025"},
	{"iPhone and iPad", "the App Store", "https://apps.apple.com/app/wireguard/id1441195209"},
	{"Android", "Google Play", "https://play.google.com/store/apps/details?id=com.wireguard.android"},
	{"Linux", "your distribution's package wireguard-tools", "https://www.wireguard.com/install/"},
}

type invitationView struct {
	InvitationData
	Greeting string
	Expiry   string
	Apps     []App
}

// Invitation renders the enrolment invitation: what to install (the
// official WireGuard app for each system, as links and as plain text),
// what the link does, and when it expires. Names and the link are
// escaped for HTML by html/template; the link must be https (or http to a
// loopback host, for tests).
func Invitation(d InvitationData) (Message, error) {
	if d.To == "" || d.Organization == "" || d.Link == "" || d.Expires.IsZero() {
		return Message{}, fmt.Errorf("%w: to, organization, link and expires are required", ErrBadInvitation)
	}
	u, err := url.Parse(d.Link)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return Message{}, fmt.Errorf("%w: link %q is not an https URL", ErrBadInvitation, d.Link)
	}
	if strings.ContainsAny(d.Organization+d.Name, "\r\n") {
		return Message{}, fmt.Errorf("%w: line break in organization or name", ErrBadInvitation)
	}
	v := invitationView{InvitationData: d, Apps: Apps, Expiry: d.Expires.Format("Monday, 2 January 2006, 15:04 MST")}
	v.Greeting = "Hello,"
	if d.Name != "" {
		v.Greeting = "Hello " + d.Name + ","
	}
	var text, html bytes.Buffer
	if err := textInvitation.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("mail: invitation text: %w", err)
	}
	if err := htmlInvitation.Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("mail: invitation html: %w", err)
	}
	return Message{
		To:      []string{d.To},
		Subject: d.Organization + ": your access to the license server from home",
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

var textInvitation = texttemplate.Must(texttemplate.New("text").Parse(`{{.Greeting}}

{{.Organization}} invites you to use its software licenses from home.

1. Install the official WireGuard app:
{{range .Apps}}   - {{.OS}}: {{.Where}}, {{.URL}}
{{end}}
2. Open this link on the computer you will work on:

   {{.Link}}

   It creates a WireGuard profile for that computer (its private key is
   made for you and shown only once) and a small helper that tells
   CodeMeter where the office license server is. The page says how to
   import both. The tunnel carries only license traffic: everything else
   keeps using your own internet connection.

The link works once and expires on {{.Expiry}}.
If it has expired or was already used, ask for a new one.
{{if .Contact}}
Questions: {{.Contact}}
{{end}}`))

var htmlInvitation = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Organization}}: access from home</title></head>
<body style="font-family: sans-serif; line-height: 1.4">
<p>{{.Greeting}}</p>
<p>{{.Organization}} invites you to use its software licenses from home.</p>
<ol>
<li><p>Install the official WireGuard app:</p>
<ul>
{{range .Apps}}<li>{{.OS}}: <a href="{{.URL}}">{{.Where}}</a></li>
{{end}}</ul></li>
<li><p>Open this link on the computer you will work on:</p>
<p><a href="{{.Link}}">{{.Link}}</a></p>
<p>It creates a WireGuard profile for that computer (its private key is made for you and shown only once)
and a small helper that tells CodeMeter where the office license server is. The page says how to import both.
The tunnel carries only license traffic: everything else keeps using your own internet connection.</p></li>
</ol>
<p>The link works once and expires on <strong>{{.Expiry}}</strong>.
If it has expired or was already used, ask for a new one.</p>
{{if .Contact}}<p>Questions: {{.Contact}}</p>{{end}}
</body></html>
`))
