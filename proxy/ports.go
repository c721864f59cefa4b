package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/licgate/licgate/licmgr"
	"github.com/licgate/licgate/session"
)

// A service fronting a license manager has one Proxy per port
// (licmgr.Port): the same policy on each, but caps counted only where
// seats are held, and Sentinel LDK's shared port filtered.
//
//   - NoSeats: connections here hold no seats (FlexNet's lmgrd, RLM's
//     rlm port, a manager's web administration). The policy still
//     decides them; caps neither check nor count them (session.NoSeat).
//   - FilterAdmin: the port carries the manager's web administration too
//     (Sentinel LDK's Admin Control Center on 1947). The first bytes of
//     each TCP connection are read until licmgr.ClassifyLDK decides;
//     Admin Control Center requests are refused, the rest passes with
//     the bytes read forwarded first.

// ErrLDKAdmin refuses a Sentinel LDK Admin Control Center request.
var ErrLDKAdmin = &session.DenyError{Rule: -1, Kind: session.DenyKindAdmin,
	Reason: "Sentinel LDK Admin Control Center: set services[].admin_ports to let it through"}

// peekTimeout bounds how long FilterAdmin waits for a client's first
// bytes; a client still silent then is judged on what it sent (license
// traffic: refusing it by mistake would take seats away).
const peekTimeout = 5 * time.Second

// filterAdmin reads the first bytes of c when FilterAdmin is set and
// returns them (to be forwarded upstream), or ErrLDKAdmin.
func (p *Proxy) filterAdmin(c net.Conn) ([]byte, error) {
	if !p.FilterAdmin {
		return nil, nil
	}
	buf := make([]byte, licmgr.LDKMaxPeek)
	n := 0
	c.SetReadDeadline(time.Now().Add(peekTimeout))
	defer c.SetReadDeadline(time.Time{})
	for n < len(buf) {
		if licmgr.ClassifyLDK(buf[:n]) != licmgr.LDKNeedMore && n > 0 {
			break
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			if n == 0 {
				return nil, err
			}
			break // EOF after a request: judge it, the splice sees the EOF
		}
	}
	if licmgr.ClassifyLDK(buf[:n]) == licmgr.LDKAdmin {
		return nil, ErrLDKAdmin
	}
	return buf[:n], nil
}

// forwardPeeked sends the bytes filterAdmin read upstream, counting them.
func (p *Proxy) forwardPeeked(up net.Conn, b []byte, s *session.Session) {
	if len(b) == 0 {
		return
	}
	s.Up.Add(int64(len(b)))
	s.LastUp.Store(time.Now().UnixNano())
	if _, err := up.Write(b); err != nil {
		s.Cut(session.EndError)
	}
}

// stampConn records when the device last sent bytes (session.LastUp,
// the reconnect rule's silence) on the client side of a TCP session.
type stampConn struct {
	net.Conn
	s *session.Session
}

func stampUp(c net.Conn, s *session.Session) net.Conn { return &stampConn{Conn: c, s: s} }

func (c *stampConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.s.LastUp.Store(time.Now().UnixNano())
	}
	return n, err
}

// CloseWrite passes the half-close on (proxyCopy asks for it).
func (c *stampConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
