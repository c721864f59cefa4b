package licmgr

import "bytes"

// LDKRequest is what a TCP connection to Sentinel LDK's port 1947 is for,
// judged on its first bytes.
type LDKRequest int

// Outcomes of ClassifyLDK.
const (
	// LDKNeedMore: the request line is not complete yet; read more (up to
	// LDKMaxPeek bytes) and ask again.
	LDKNeedMore LDKRequest = iota
	// LDKLicense: the License Managers' own traffic (license requests and
	// anything that is not an Admin Control Center page): let it through.
	LDKLicense
	// LDKAdmin: the Admin Control Center (the web pages where the License
	// Manager is configured, sessions cancelled, licenses detached): refuse
	// unless the service allows administration.
	LDKAdmin
)

func (r LDKRequest) String() string {
	switch r {
	case LDKLicense:
		return "license"
	case LDKAdmin:
		return "admin"
	}
	return "need-more"
}

// LDKMaxPeek bounds how much of a connection ClassifyLDK needs: a request
// line longer than this is judged on what is there.
const LDKMaxPeek = 2048

// ClassifyLDK tells the Admin Control Center's HTTP requests from the
// License Managers' licensing traffic on TCP 1947, from the first bytes a
// client sent. It allocates nothing and reads no clock.
//
// What the documentation shows of ACC: it is browsed at
// http://host:1947/ (which redirects to /_int_/index.html), its pages and
// their assets live under /_int_/ (config.html, devices.html,
// sessions.html, products.html, features.html, diag.html, log.html, the
// ACC help and the action.html endpoint that changes settings), and the
// browser asks for /favicon.ico. A request line that is HTTP and aims at
// "/", an /index.htm(l), /favicon.ico or anything under /_int_/ is ACC.
// Everything else, including bytes that are not an HTTP request line at
// all, is treated as licensing: refusing the License Managers' own
// protocol by mistake would take seats away, which costs more than letting
// an odd request through to a server whose ACC is password-protected.
func ClassifyLDK(first []byte) LDKRequest {
	end := bytes.IndexByte(first, '\n')
	if end < 0 {
		if len(first) < LDKMaxPeek && looksLikeHTTPStart(first) {
			return LDKNeedMore
		}
		end = len(first)
	}
	line := bytes.TrimRight(first[:end], "\r")
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isHTTPMethod(line[:sp]) {
		return LDKLicense
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		sp2 = len(rest) // HTTP/0.9 or cut short: judge the target as it is
	}
	target := rest[:sp2]
	// An absolute-form target (a proxy-style request) carries scheme and host.
	if i := bytes.Index(target, []byte("://")); i >= 0 {
		if j := bytes.IndexByte(target[i+3:], '/'); j >= 0 {
			target = target[i+3+j:]
		} else {
			target = []byte("/")
		}
	}
	if q := bytes.IndexAny(target, "?#"); q >= 0 {
		target = target[:q]
	}
	if isACCPath(target) {
		return LDKAdmin
	}
	return LDKLicense
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}

func isHTTPMethod(b []byte) bool {
	for _, m := range httpMethods {
		if string(b) == m {
			return true
		}
	}
	return false
}

// looksLikeHTTPStart: could b be the beginning of an HTTP request line?
// (A prefix of a method, or a method and a space and more.)
func looksLikeHTTPStart(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	for _, m := range httpMethods {
		n := min(len(b), len(m))
		if string(b[:n]) == m[:n] && (len(b) <= len(m) || b[len(m)] == ' ') {
			return true
		}
	}
	return false
}

func isACCPath(p []byte) bool {
	for _, exact := range accExact {
		if bytes.EqualFold(p, exact) {
			return true
		}
	}
	return len(p) >= len(accPrefix) && bytes.EqualFold(p[:len(accPrefix)], accPrefix)
}

var (
	accExact  = [][]byte{[]byte(""), []byte("/"), []byte("/index.html"), []byte("/index.htm"), []byte("/favicon.ico"), []byte("/_int_")}
	accPrefix = []byte("/_int_/")
)
