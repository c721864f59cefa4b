package enroll

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/licgate/licgate/bundle"
	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/tunnel"
)

// The bundle an enrolment link hands out carries the office's license
// managers when WithLicenses says what they are.
func TestBundleCarriesLicenses(t *testing.T) {
	priv, _ := tunnel.ParseKey("qHyMYOpLhHmtW7L+GPkqNXkVCXqU+JD5djLF9fNhNmo=")
	gw, _ := tunnel.ParseKey("uIjjXTDyYvTxL0xFmm+5J9pjH2qJDhQZmPc6wfhL0lc=")
	p := tunnel.Profile{PrivateKey: priv, Address: netip.MustParsePrefix("10.44.0.23/32"), PeerPublicKey: gw.PublicKey(),
		Endpoint: "office.example.com:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}}
	flex, err := licmgr.Expand(licmgr.FlexNet, licmgr.Options{Port: 27000, Daemons: []licmgr.Daemon{{Name: "adskflex", Port: 27100}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		with      bool
		want      string
		codemeter bool
	}{{false, "", true}, {true, "LM_LICENSE_FILE=27000@10.44.0.1", false}} {
		s := New(nil, nil)
		if c.with {
			s.WithLicenses(func() []bundle.License { return []bundle.License{bundle.LicenseFor(licmgr.FlexNet, flex)} })
		}
		rec := httptest.NewRecorder()
		s.showResult(rec, netip.MustParseAddrPort("192.0.2.1:1234"), "tok", Result{User: "alice", Device: "home", Profile: &p})
		mb, ok := s.bundles.Get(TokenHash("tok"))
		if !ok {
			t.Fatalf("no bundle made: %d %s", rec.Code, rec.Body)
		}
		sh := string(mb.files["home-linux.sh"])
		if c.want != "" && !strings.Contains(sh, c.want) || c.want == "" && strings.Contains(sh, "LM_LICENSE_FILE=") {
			t.Errorf("with licenses %v: linux helper variables wrong (want %q)", c.with, c.want)
		}
		if got := strings.Contains(sh, `CODEMETER="1"`); got != c.codemeter {
			t.Errorf("with licenses %v: CodeMeter %v, want %v", c.with, got, c.codemeter)
		}
	}
}
