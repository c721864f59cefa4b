package portmap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/licgate/licgate/portmap/internal/pxp"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// pxpExchange sends the request built by req (given the local address the
// router will see) to the router's port 5351 and reads answers until
// parse accepts one, parse returns a router error, or the timeout ends.
// Requests are resent after 250ms, doubling (RFC 6886 3.1, RFC 6887 8.1.1).
// parse returns errSkip for packets that belong to another exchange.
func pxpExchange(ctx context.Context, dial DialFunc, gw netip.Addr, timeout time.Duration, req func(local netip.Addr) []byte, parse func([]byte) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "udp4", netip.AddrPortFrom(gw, pxp.Port).String())
	if err != nil {
		return err
	}
	defer c.Close()
	var local netip.Addr
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		local, _ = netip.AddrFromSlice(ua.IP)
		local = local.Unmap()
	}
	pkt := req(local)
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	buf := make([]byte, 1100) // PCP messages are at most 1100 bytes
	wait := 250 * time.Millisecond
	var lastBad error
	for {
		if _, err := c.Write(pkt); err != nil {
			return err
		}
		resend := time.Now().Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Before(resend) {
			resend = dl
		}
		c.SetReadDeadline(resend)
		if ctx.Err() != nil {
			c.SetReadDeadline(time.Unix(1, 0))
		}
		wait *= 2
		for {
			n, err := c.Read(buf)
			if ctx.Err() != nil {
				switch {
				case lastBad != nil:
					return lastBad
				case errors.Is(ctx.Err(), context.Canceled):
					return ctx.Err()
				}
				return fmt.Errorf("%w within %s", errNoAnswer, timeout)
			}
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					return fmt.Errorf("%w: port %d closed (ICMP port unreachable)", errNoAnswer, pxp.Port)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return err
			}
			err = parse(buf[:n])
			if err == nil {
				return nil
			}
			if errors.Is(err, errSkip) || errors.Is(err, ErrMalformed) {
				// Keep listening: an answer to an earlier retransmission
				// or a multicast announcement may come first.
				lastBad = err
				continue
			}
			return err
		}
	}
}

// errNoAnswer means nothing came back: the protocol is not there.
var errNoAnswer = errors.New("no answer")

var errSkip = errors.New("answer to another request")

func newNonce() [12]byte {
	var n [12]byte
	rand.Read(n[:])
	return n
}
