// Package bundle renders what a home user gets for a device: the
// wg-quick profile, its QR code, and a helper script for their OS that
// imports the tunnel, points the office's license managers at the gateway
// (CodeMeter's server search list with cmu --add-server; FlexNet's
// LM_LICENSE_FILE and <VENDOR>_LICENSE_FILE; RLM's RLM_LICENSE and
// <isv>_LICENSE; Sentinel LDK's serveraddr in hasplm.ini), and installs a job that re-resolves the gateway's
// name when the tunnel has gone quiet (WireGuard clients resolve the
// Endpoint only when the tunnel starts, so an office address change
// strands them otherwise).
//
// Every helper is idempotent, can undo itself, and routes nothing but the
// gateway's tunnel address (the profile's AllowedIPs).
//
// Typical usage:
//
//	b, err := bundle.New("office", profile)
//	files, err := b.Files() // name -> content
package bundle

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"text/template"

	"github.com/licgate/licgate/tunnel"
)

//go:embed templates/*
var templates embed.FS

var tmpl = template.Must(template.ParseFS(templates, "templates/*"))

// Bundle is one device's home-user kit.
type Bundle struct {
	// Tunnel is the interface / tunnel name on the home computer: at most
	// 15 characters of [a-zA-Z0-9_=+.-] (wg-quick's rule).
	Tunnel  string
	Profile tunnel.Profile
	// Gateway is the gateway's tunnel address: CodeMeter's server entry.
	Gateway string
	// Endpoint is host:port from the profile, for re-resolution.
	Endpoint string
	// Licenses are the license managers the office fronts, for the helpers
	// to point applications at the gateway. If empty, CodeMeter only (as
	// before profiles).
	Licenses []License
	// MaxAge is the handshake age (seconds) after which the endpoint is
	// re-resolved. WireGuard re-handshakes at least every 2 minutes while
	// traffic flows, so 180 s means "dead", as wireguard-tools' own
	// reresolve-dns.sh assumes (135 s).
	MaxAge int
}

var tunnelName = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)

// New returns the bundle for profile, naming the tunnel name.
func New(name string, p tunnel.Profile) (*Bundle, error) {
	if !tunnelName.MatchString(name) {
		return nil, fmt.Errorf("bundle: tunnel name %q: at most 15 of a-z A-Z 0-9 _ = + . -", name)
	}
	if len(p.AllowedIPs) != 1 {
		return nil, fmt.Errorf("bundle: the profile must route exactly the gateway's address, has %v", p.AllowedIPs)
	}
	if _, _, err := net.SplitHostPort(p.Endpoint); err != nil {
		return nil, fmt.Errorf("bundle: endpoint %q: %w", p.Endpoint, err)
	}
	return &Bundle{Tunnel: name, Profile: p, Gateway: p.AllowedIPs[0].Addr().String(), Endpoint: p.Endpoint, MaxAge: 180}, nil
}

// PeerKey is the gateway's public key, for `wg set ... peer`.
func (b *Bundle) PeerKey() string { return b.Profile.PeerPublicKey.String() }

func (b *Bundle) render(name string) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, b); err != nil {
		return nil, fmt.Errorf("bundle: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Linux is the sh helper for Linux (wg-quick, systemd).
func (b *Bundle) Linux() ([]byte, error) { return b.render("linux.sh") }

// MacOS is the sh helper for macOS (wg-quick from Homebrew, launchd).
func (b *Bundle) MacOS() ([]byte, error) { return b.render("macos.sh") }

// Windows is the PowerShell helper (WireGuard for Windows, Task Scheduler).
func (b *Bundle) Windows() ([]byte, error) { return b.render("windows.ps1") }

// Files returns every file of the bundle by file name: NAME.conf,
// NAME.png, NAME-linux.sh, NAME-macos.sh, NAME-windows.ps1.
func (b *Bundle) Files() (map[string][]byte, error) {
	out := map[string][]byte{b.Tunnel + ".conf": []byte(b.Profile.String())}
	png, err := QRPNG(b.Profile, 512)
	if err != nil {
		return nil, err
	}
	out[b.Tunnel+".png"] = png
	for suffix, f := range map[string]func() ([]byte, error){"-linux.sh": b.Linux, "-macos.sh": b.MacOS, "-windows.ps1": b.Windows} {
		data, err := f()
		if err != nil {
			return nil, err
		}
		out[b.Tunnel+suffix] = data
	}
	return out, nil
}

// Write writes the bundle for p as files named after prefix's last
// element, in prefix's directory (0600: they hold the private key), and
// returns their names, sorted. licenses are the office's license managers
// (Bundle.Licenses; none: CodeMeter).
func Write(prefix string, p tunnel.Profile, licenses ...License) ([]string, error) {
	b, err := New(filepath.Base(prefix), p)
	if err != nil {
		return nil, err
	}
	b.Licenses = licenses
	files, err := b.Files()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(filepath.Dir(prefix), name), files[name], 0o600); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
	}
	return names, nil
}
