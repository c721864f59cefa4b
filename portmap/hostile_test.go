package portmap

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licgate/licgate/internal/netnstest"
	"github.com/licgate/licgate/portmap/portmaptest"
)

// Issue 23 finding 4: a hostile "router" in a namespace answers UPnP,
// PCP and NAT-PMP with tricks. licgate must never connect to another
// host (a victim namespace behind the router counts every connection),
// must not take a huge PCP lifetime, and must not call 0.0.0.0 mapped.

var (
	hostileGW  = netip.MustParseAddr("192.168.1.1")
	hostileLAN = netip.MustParseAddr("192.168.1.10")
	victim     = netip.MustParseAddr("172.16.9.9")
)

type hostileNet struct {
	office, router, victim *netnstest.NS
	victimConns            atomic.Int64 // connections accepted on the victim
	loopConns              atomic.Int64 // connections to 127.0.0.1 in the office
	mode                   atomic.Value // string: the trick the router plays
	httpPort               int
}

func newHostileNet(t *testing.T) *hostileNet {
	netnstest.Require(t)
	h := &hostileNet{}
	h.mode.Store("")
	h.office = netnstest.New(t, "pmh-off")
	h.router = netnstest.New(t, "pmh-rtr")
	h.victim = netnstest.New(t, "pmh-vic")
	netnstest.Link(t, h.router, h.office, hostileGW.String()+"/24", hostileLAN.String()+"/24")
	netnstest.Link(t, h.router, h.victim, "172.16.9.1/24", victim.String()+"/24")
	h.office.Run("ip", "route", "add", "default", "via", hostileGW.String())
	h.victim.Run("ip", "route", "add", "default", "via", "172.16.9.1")
	h.router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")

	count := func(ns *netnstest.NS, addr string, n *atomic.Int64) {
		var ln net.Listener
		ns.Do(func() {
			var err error
			if ln, err = net.Listen("tcp4", addr); err != nil {
				t.Fatal(err)
			}
		})
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				n.Add(1)
				c.Close()
			}
		}()
	}
	count(h.victim, victim.String()+":80", &h.victimConns)
	count(h.office, "127.0.0.1:80", &h.loopConns)

	// The router's UPnP HTTP server, SSDP and PCP/NAT-PMP responders.
	var ln net.Listener
	var ssdp, pxp net.PacketConn
	h.router.Do(func() {
		var err error
		if ln, err = net.Listen("tcp4", hostileGW.String()+":0"); err != nil {
			t.Fatal(err)
		}
		if ssdp, err = net.ListenPacket("udp4", ":1900"); err != nil {
			t.Fatal(err)
		}
		if pxp, err = net.ListenPacket("udp4", ":5351"); err != nil {
			t.Fatal(err)
		}
	})
	h.httpPort = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(h.serveHTTP)}
	done := make(chan struct{}, 3)
	go func() { srv.Serve(ln); done <- struct{}{} }()
	go func() { h.serveSSDP(ssdp); done <- struct{}{} }()
	go func() { h.servePXP(pxp); done <- struct{}{} }()
	t.Cleanup(func() {
		srv.Close()
		ssdp.Close()
		pxp.Close()
		<-done
		<-done
		<-done
	})
	return h
}

func (h *hostileNet) trick() string { return h.mode.Load().(string) }

func (h *hostileNet) serveSSDP(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(buf[:n], []byte("M-SEARCH")) {
			continue
		}
		loc := fmt.Sprintf("http://%s:%d/desc.xml", hostileGW, h.httpPort)
		if h.trick() == "location" {
			loc = fmt.Sprintf("http://%s:80/desc.xml", victim)
		}
		st := "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
		pc.WriteTo([]byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: "+st+"\r\nUSN: uuid:hostile::"+st+"\r\nEXT:\r\nLOCATION: "+loc+"\r\n\r\n"), from)
	}
}

const hostileDesc = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>%s
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>hostile</friendlyName><UDN>uuid:hostile</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><UDN>uuid:hostile-wan</UDN>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><UDN>uuid:hostile-conn</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<SCPDURL>/scpd.xml</SCPDURL><controlURL>%s</controlURL><eventSubURL>/evt</eventSubURL></service></serviceList>
</device></deviceList></device></deviceList></device></root>`

func (h *hostileNet) serveHTTP(w http.ResponseWriter, r *http.Request) {
	other := fmt.Sprintf("http://%s:80", victim)
	switch h.trick() {
	case "redirect":
		http.Redirect(w, r, other+"/desc.xml", http.StatusFound)
	case "urlbase":
		fmt.Fprintf(w, hostileDesc, "\n<URLBase>"+other+"/</URLBase>", "/ctl")
	case "controlurl":
		fmt.Fprintf(w, hostileDesc, "", other+"/ctl")
	case "loopback":
		fmt.Fprintf(w, hostileDesc, "", "http://127.0.0.1:80/ctl")
	case "huge":
		fmt.Fprintf(w, hostileDesc, "", "/ctl"+strings.Repeat(" ", 8<<20))
	default:
		http.Error(w, "no", http.StatusNotFound)
	}
}

// servePXP answers PCP MAP and NAT-PMP with a lifetime of 0xffffffff
// seconds, or (trick "zero") with external address 0.0.0.0.
func (h *hostileNet) servePXP(pc net.PacketConn) {
	buf := make([]byte, 1100)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		req := buf[:n]
		switch {
		case n >= pxp.PCPHeaderSz+pxp.PCPMapSz && req[0] == pxp.PCPVersion && req[1] == pxp.PCPOpMap:
			lifetime, ext := uint32(0xffffffff), netip.MustParseAddr("198.51.100.7")
			if h.trick() == "zero" {
				lifetime, ext = 120, netip.IPv4Unspecified()
			}
			m := req[pxp.PCPHeaderSz:]
			pc.WriteTo(pcpAnswer(0x81, 0, lifetime, [12]byte(m[:12]), m[12], binary.BigEndian.Uint16(m[16:]), binary.BigEndian.Uint16(m[18:]), ext), from)
		case n >= 2 && req[0] == pxp.PMPVersion && req[1] == pxp.PMPOpAddr:
			a := make([]byte, pxp.PMPAddrRespSz)
			a[1] = pxp.PMPReply | pxp.PMPOpAddr
			binary.BigEndian.PutUint32(a[4:], 77)
			if h.trick() != "zero" {
				copy(a[8:], []byte{198, 51, 100, 7})
			}
			pc.WriteTo(a, from)
		case n >= 12 && req[0] == pxp.PMPVersion:
			pc.WriteTo(pmpMapAnswer(pxp.PMPReply|req[1], 0, binary.BigEndian.Uint16(req[4:]), binary.BigEndian.Uint16(req[6:]), 0xffffffff), from)
		}
	}
}

func (h *hostileNet) mapper(t *testing.T, protocols ...string) *Mapper {
	m := New(Config{
		Protocols: protocols, Gateway: hostileGW, InternalPort: 51820,
		Lease: time.Minute, CheckInterval: 100 * time.Millisecond, Timeout: time.Second,
		Dial: portmaptest.Dial(h.office), ListenPacket: portmaptest.ListenPacket(h.office),
	}, nil)
	t.Cleanup(func() { m.Close() })
	return m
}

func waitFor(t *testing.T, m *Mapper, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := m.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond) // polling a status snapshot
	}
}

func TestHostileUPnP(t *testing.T) {
	leakCheck(t)
	h := newHostileNet(t)
	for _, tc := range []struct{ trick, want string }{
		{"urlbase", "URLBase http://172.16.9.9:80/ points to another host than the router"},
		{"controlurl", "controlURL http://172.16.9.9:80/ctl points to another host than the router"},
		{"loopback", "controlURL http://127.0.0.1:80/ctl points to another host than the router"},
		{"redirect", "redirects to http://172.16.9.9:80/desc.xml: not followed"},
		{"location", "SSDP location http://172.16.9.9:80/desc.xml points to another host than the router"},
		{"huge", "request body too large"},
	} {
		t.Run(tc.trick, func(t *testing.T) {
			h.mode.Store(tc.trick)
			m := h.mapper(t, UPnP)
			go m.Run(context.Background())
			st := waitFor(t, m, "two failed attempts", func(s Status) bool { return s.Failures >= 2 })
			if st.State == "mapped" || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("state %s, last error %q; want it to say %q", st.State, st.LastError, tc.want)
			}
			m.Close()
			if n, l := h.victimConns.Load(), h.loopConns.Load(); n != 0 || l != 0 {
				t.Fatalf("licgate connected %d times to the other host %s and %d times to 127.0.0.1", n, victim, l)
			}
		})
	}
}

func TestHostileLifetime(t *testing.T) {
	for _, proto := range []string{PCP, NATPMP} {
		t.Run(proto, func(t *testing.T) {
			leakCheck(t)
			h := newHostileNet(t)
			m := h.mapper(t, proto)
			go m.Run(context.Background())
			st := waitFor(t, m, "mapped", func(s Status) bool { return s.State == "mapped" })
			if left := time.Until(st.LeaseExpiry); left > time.Minute || left <= 0 {
				t.Fatalf("a lifetime of 0xffffffff s became a lease until %s (%s from now); want at most the minute asked", st.LeaseExpiry, left.Round(time.Second))
			}
		})
	}
}

func TestHostileZeroAddress(t *testing.T) {
	for _, proto := range []string{PCP, NATPMP} {
		t.Run(proto, func(t *testing.T) {
			leakCheck(t)
			h := newHostileNet(t)
			h.mode.Store("zero")
			m := h.mapper(t, proto)
			go m.Run(context.Background())
			st := waitFor(t, m, "a failed attempt", func(s Status) bool { return s.Failures >= 1 || s.State == "mapped" })
			if st.State == "mapped" || !strings.Contains(st.LastError, "external address 0.0.0.0") || !strings.Contains(st.LastError, "not mapped") {
				t.Fatalf("%s answered with external address 0.0.0.0: state %s, external %s, last error %q", proto, st.State, st.ExternalAddress, st.LastError)
			}
		})
	}
}
