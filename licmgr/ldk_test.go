package licmgr

import (
	"strings"
	"testing"
)

// Request shapes from Sentinel LDK's documentation of the Admin Control
// Center (browsed at http://host:1947/, pages under /_int_/) and what a
// browser sends for them; licensing traffic is whatever is not one of them.
func TestClassifyLDK(t *testing.T) {
	cases := []struct {
		first string
		want  LDKRequest
	}{
		// Admin Control Center, as a browser asks for it.
		{"GET / HTTP/1.1\r\nHost: 10.44.0.1:1947\r\n\r\n", LDKAdmin},
		{"GET /_int_/index.html HTTP/1.1\r\nHost: x\r\n\r\n", LDKAdmin},
		{"GET /_int_/config.html HTTP/1.1\r\n", LDKAdmin},
		{"GET /_int_/devices.html HTTP/1.1\r\n", LDKAdmin},
		{"GET /_int_/sessions.html HTTP/1.1\r\n", LDKAdmin},
		{"GET /_int_/ACC_help_index.html HTTP/1.1\r\n", LDKAdmin},
		{"POST /_int_/action.html HTTP/1.1\r\nContent-Length: 10\r\n", LDKAdmin},
		{"GET /_INT_/Config.html HTTP/1.0\r\n", LDKAdmin},
		{"GET /_int_/tab_feat.html?haspid=0&featureid=-1 HTTP/1.1\r\n", LDKAdmin},
		{"GET /favicon.ico HTTP/1.1\r\n", LDKAdmin},
		{"GET /index.html HTTP/1.1\r\n", LDKAdmin},
		{"HEAD / HTTP/1.1\r\n", LDKAdmin},
		{"GET http://10.44.0.1:1947/_int_/config.html HTTP/1.1\r\n", LDKAdmin},
		{"GET http://10.44.0.1:1947 HTTP/1.1\r\n", LDKAdmin},
		{"GET /_int_", LDKNeedMore}, // no end of line yet: the target may go on
		{"GET / HTTP/1.1", LDKNeedMore},
		{"GE", LDKNeedMore},
		{"", LDKNeedMore},
		// Not ACC: let it through.
		{"POST /hasplm HTTP/1.1\r\nContent-Type: application/octet-stream\r\n", LDKLicense},
		{"GET /_pub_/status HTTP/1.1\r\n", LDKLicense},
		{"\x00\x01\x02\x03binary", LDKLicense},
		{"HASP\x00", LDKLicense},
		{"GETX / HTTP/1.1\r\n", LDKLicense},
		{"get / HTTP/1.1\r\n", LDKLicense}, // methods are case-sensitive
		{"GET /_internal HTTP/1.1\r\n", LDKLicense},
		{"GET\r\n", LDKLicense},
	}
	for _, c := range cases {
		if got := ClassifyLDK([]byte(c.first)); got != c.want {
			t.Errorf("ClassifyLDK(%q) = %s, want %s", c.first, got, c.want)
		}
	}
}

// A request line longer than LDKMaxPeek without an end is judged on what
// is there, never waited on for ever.
func TestClassifyLDKLongLine(t *testing.T) {
	long := "GET /_int_/" + strings.Repeat("a", LDKMaxPeek)
	if got := ClassifyLDK([]byte(long)); got != LDKAdmin {
		t.Errorf("long ACC line = %s", got)
	}
	long = "GET /x" + strings.Repeat("a", LDKMaxPeek)
	if got := ClassifyLDK([]byte(long)); got != LDKLicense {
		t.Errorf("long other line = %s", got)
	}
}

func TestClassifyLDKNoAllocs(t *testing.T) {
	req := []byte("GET /_int_/config.html HTTP/1.1\r\nHost: x\r\n\r\n")
	lic := []byte("POST /hasplm HTTP/1.1\r\n")
	if n := testing.AllocsPerRun(100, func() { ClassifyLDK(req); ClassifyLDK(lic) }); n != 0 {
		t.Errorf("ClassifyLDK allocates %v times per call", n)
	}
}

func FuzzClassifyLDK(f *testing.F) {
	f.Add([]byte("GET /_int_/index.html HTTP/1.1\r\n"))
	f.Add([]byte("\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := ClassifyLDK(b)
		if r == LDKNeedMore && len(b) >= LDKMaxPeek {
			t.Fatalf("need more after %d bytes", len(b))
		}
	})
}
