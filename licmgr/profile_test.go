package licmgr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// ports renders a profile compactly: "lmgrd 27000/tcp lookup" per port,
// with "*" for a seat port and "+acc" where LDK's admin pages share it.
func ports(ps []Port) string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%s %d/%s %s", p.Name, p.Port, strings.Join(p.Protocols, "+"), p.Role)
		if p.HoldsSeats {
			s += "*"
		}
		if p.SharesAdmin {
			s += "+acc"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func TestExpand(t *testing.T) {
	adsk := []Daemon{{Name: "adskflex", Port: 27001}}
	cases := []struct {
		kind Kind
		opt  Options
		want string
	}{
		{CodeMeter, Options{}, "license 22350/tcp+udp license*"},
		{CodeMeter, Options{Admin: true}, "license 22350/tcp+udp license*, webadmin 22352/tcp admin, webadmin-https 22353/tcp admin"},
		{FlexNet, Options{Port: 27000, Daemons: adsk}, "lmgrd 27000/tcp lookup, vendor adskflex 27001/tcp license*"},
		{FlexNet, Options{Port: 27000, Daemons: []Daemon{{"adskflex", 2080}, {"MLM", 27010}}},
			"lmgrd 27000/tcp lookup, vendor adskflex 2080/tcp license*, vendor MLM 27010/tcp license*"},
		{RLM, Options{Daemons: []Daemon{{"foundry", 4101}}}, "rlm 5053/tcp lookup, isv foundry 4101/tcp license*"},
		{RLM, Options{Port: 2700, Daemons: []Daemon{{"reprise", 8765}}, Admin: true}, "rlm 2700/tcp lookup, isv reprise 8765/tcp license*, web 5054/tcp admin"},
		{SentinelLDK, Options{}, "license 1947/tcp+udp license*+acc"},
		{SentinelLDK, Options{Admin: true}, "license 1947/tcp+udp license*"},
		{SentinelRMS, Options{}, "license 5093/udp license*"},
		{Generic, Options{Port: 7070, Protocols: []string{"tcp"}}, "license 7070/tcp license*"},
	}
	for _, c := range cases {
		got, err := Expand(c.kind, c.opt)
		if err != nil {
			t.Errorf("Expand(%s, %+v): %v", c.kind, c.opt, err)
			continue
		}
		if s := ports(got); s != c.want {
			t.Errorf("Expand(%s, %+v)\n got %s\nwant %s", c.kind, c.opt, s, c.want)
		}
	}
}

// Without a SERVER port, lmgrd takes the first free port of 27000-27009:
// the profile forwards the whole range, less a vendor daemon pinned inside it.
func TestExpandFlexNetDefaultRange(t *testing.T) {
	got, err := Expand(FlexNet, Options{Daemons: []Daemon{{"awrd", 27008}}})
	if err != nil {
		t.Fatal(err)
	}
	var lookups []int
	for _, p := range got {
		if p.Role == RoleLookup {
			lookups = append(lookups, p.Port)
		}
	}
	want := []int{27000, 27001, 27002, 27003, 27004, 27005, 27006, 27007, 27009}
	if !slices.Equal(lookups, want) {
		t.Errorf("lmgrd ports %v, want %v", lookups, want)
	}
	if p, seats := SeatPort(got, 27008, "tcp"); !seats || p.Name != "vendor awrd" {
		t.Errorf("27008 is %+v seats=%v, want the awrd vendor daemon holding seats", p, seats)
	}
	if _, seats := SeatPort(got, 27000, "tcp"); seats {
		t.Error("lmgrd's port must not count seats")
	}
}

func TestExpandErrors(t *testing.T) {
	cases := []struct {
		kind Kind
		opt  Options
		want error
		msg  string
	}{
		{FlexNet, Options{Port: 27000}, ErrUnpinned, "VENDOR line's PORT="},
		{FlexNet, Options{Port: 27000, Daemons: []Daemon{{"adskflex", 0}}}, ErrUnpinned, "vendor daemon adskflex has no port"},
		{RLM, Options{}, ErrUnpinned, "ISV line's port="},
		{RLM, Options{Daemons: []Daemon{{"a", 6000}, {"b", 6000}}}, ErrPort, "isv a and isv b both on tcp/6000"},
		{FlexNet, Options{Port: 27000, Daemons: []Daemon{{"x", 27000}}}, ErrPort, "lmgrd and vendor x both on tcp/27000"},
		{CodeMeter, Options{Daemons: []Daemon{{"x", 1}}}, ErrPort, "not codemeter"},
		{Generic, Options{}, ErrPort, "needs its port"},
		{Generic, Options{Port: 70000}, ErrPort, "70000 is not a port"},
		{Generic, Options{Port: 7, Protocols: []string{"sctp"}}, ErrPort, `"sctp"`},
		{Kind("hasp"), Options{}, ErrKind, `"hasp" is not one of codemeter, flexnet, rlm, sentinel-ldk, sentinel-rms, generic`},
	}
	for _, c := range cases {
		_, err := Expand(c.kind, c.opt)
		if !errors.Is(err, c.want) || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Expand(%s, %+v) = %v, want %v containing %q", c.kind, c.opt, err, c.want, c.msg)
		}
	}
}

func TestParseKindAndServerHold(t *testing.T) {
	if k, err := ParseKind(" FlexNet "); err != nil || k != FlexNet {
		t.Errorf("ParseKind = %q, %v", k, err)
	}
	if ServerHold(CodeMeter) != 120*time.Second || ServerHold(FlexNet) != 0 {
		t.Error("ServerHold: CodeMeter's CleanUpTimeOut is 120 s; others have no documented default")
	}
}

func TestUpstreamAndStatusCommand(t *testing.T) {
	ps, _ := Expand(FlexNet, Options{Port: 27000, Daemons: []Daemon{{"adskflex", 27001}}})
	if got := UpstreamFor("192.168.1.10", ps[1]); got != "192.168.1.10:27001" {
		t.Errorf("UpstreamFor = %s", got)
	}
	if n, a, ok := StatusCommand(FlexNet, 27000, "lic1"); !ok || n != "lmutil" || strings.Join(a, " ") != "lmstat -a -c 27000@lic1" {
		t.Errorf("flexnet status: %s %v %v", n, a, ok)
	}
	if n, a, ok := StatusCommand(RLM, 5053, "lic1"); !ok || n != "rlmutil" || strings.Join(a, " ") != "rlmstat -a -c 5053@lic1" {
		t.Errorf("rlm status: %s %v %v", n, a, ok)
	}
	if _, _, ok := StatusCommand(CodeMeter, 22350, "lic1"); ok {
		t.Error("codemeter has no parsed status command")
	}
}
