package portmap

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// NAT-PMP (RFC 6886) and PCP (RFC 6887) share UDP port 5351 and a first
// byte that tells the version (0 for NAT-PMP, 2 for PCP). Both are small
// fixed-format packets, built and parsed here.

const (
	pxpPort = 5351

	pmpVersion    = 0
	pmpOpAddr     = 0
	pmpOpMapUDP   = 1
	pmpOpMapTCP   = 2
	pmpReply      = 0x80
	pmpAddrRespSz = 12
	pmpMapRespSz  = 16

	pcpVersion   = 2
	pcpOpAnnounc = 0
	pcpOpMap     = 1
	pcpReply     = 0x80
	pcpHeaderSz  = 24
	pcpMapSz     = 36
	pcpProtoUDP  = 17
	pcpProtoTCP  = 6
)

// pmpResult names NAT-PMP result codes (RFC 6886 section 3.5).
func pmpResult(code uint16) string {
	switch code {
	case 0:
		return "success"
	case 1:
		return "unsupported version"
	case 2:
		return "not authorized/refused"
	case 3:
		return "network failure"
	case 4:
		return "out of resources"
	case 5:
		return "unsupported opcode"
	}
	return fmt.Sprintf("result code %d", code)
}

func pmpErr(code uint16) error {
	switch code {
	case 1, 5:
		return fmt.Errorf("%w: nat-pmp %s", ErrUnsupported, pmpResult(code))
	case 2:
		return fmt.Errorf("%w: nat-pmp %s", ErrNotAuthorized, pmpResult(code))
	}
	return fmt.Errorf("%w: nat-pmp %s", ErrRouterError, pmpResult(code))
}

var pcpResults = [...]string{
	"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
	"UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
	"USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
}

func pcpResult(code uint8) string {
	if int(code) < len(pcpResults) {
		return pcpResults[code]
	}
	return fmt.Sprintf("result code %d", code)
}

func pcpErr(code uint8) error {
	switch code {
	case 1, 4:
		return fmt.Errorf("%w: pcp %s", ErrUnsupported, pcpResult(code))
	case 2:
		return fmt.Errorf("%w: pcp %s (PCP is off or forbids this port)", ErrNotAuthorized, pcpResult(code))
	case 11:
		return fmt.Errorf("%w: pcp %s", ErrConflict, pcpResult(code))
	case 12:
		return fmt.Errorf("%w: pcp %s (another NAT between licgate and the router?)", ErrRouterError, pcpResult(code))
	}
	return fmt.Errorf("%w: pcp %s", ErrRouterError, pcpResult(code))
}

// pmpAddrResponse is the answer to NAT-PMP opcode 0.
type pmpAddrResponse struct {
	Epoch uint32
	Addr  netip.Addr
}

// pmpMapResponse is the answer to NAT-PMP opcode 1 (UDP).
type pmpMapResponse struct {
	Epoch        uint32
	InternalPort uint16
	ExternalPort uint16
	Lifetime     uint32
}

func buildPMPAddrRequest() []byte { return []byte{pmpVersion, pmpOpAddr} }

func buildPMPMapRequest(tcp bool, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[0], b[1] = pmpVersion, pmpMapOp(tcp)
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], external)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// pmpHeader checks the common part of a NAT-PMP answer to op: version,
// reply opcode, length and result code.
func pmpHeader(b []byte, op byte, size int) error {
	if len(b) < 4 {
		return fmt.Errorf("%w: nat-pmp answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != pmpVersion {
		return fmt.Errorf("%w: nat-pmp answer with version %d", ErrMalformed, b[0])
	}
	if b[1] != pmpReply|op {
		return fmt.Errorf("%w: nat-pmp answer with opcode %d to request %d", ErrMalformed, b[1], op)
	}
	if code := binary.BigEndian.Uint16(b[2:]); code != 0 {
		return pmpErr(code)
	}
	if len(b) < size {
		return fmt.Errorf("%w: nat-pmp answer to opcode %d has %d bytes, want %d", ErrMalformed, op, len(b), size)
	}
	return nil
}

func parsePMPAddrResponse(b []byte) (pmpAddrResponse, error) {
	if err := pmpHeader(b, pmpOpAddr, pmpAddrRespSz); err != nil {
		return pmpAddrResponse{}, err
	}
	return pmpAddrResponse{
		Epoch: binary.BigEndian.Uint32(b[4:]),
		Addr:  netip.AddrFrom4([4]byte(b[8:12])),
	}, nil
}

// pmpMapOp is NAT-PMP's map opcode for the protocol.
func pmpMapOp(tcp bool) byte {
	if tcp {
		return pmpOpMapTCP
	}
	return pmpOpMapUDP
}

// pcpProto is PCP's protocol number for the protocol.
func pcpProto(tcp bool) byte {
	if tcp {
		return pcpProtoTCP
	}
	return pcpProtoUDP
}

func parsePMPMapResponse(tcp bool, b []byte) (pmpMapResponse, error) {
	if err := pmpHeader(b, pmpMapOp(tcp), pmpMapRespSz); err != nil {
		return pmpMapResponse{}, err
	}
	return pmpMapResponse{
		Epoch:        binary.BigEndian.Uint32(b[4:]),
		InternalPort: binary.BigEndian.Uint16(b[8:]),
		ExternalPort: binary.BigEndian.Uint16(b[10:]),
		Lifetime:     binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// pcpMapRequest is a PCP MAP request for UDP (RFC 6887 sections 7.1, 11.1).
type pcpMapRequest struct {
	Client       netip.Addr // the address the router sees as source
	Nonce        [12]byte   // same for every renewal of one mapping
	InternalPort uint16
	ExternalPort uint16     // suggested; 0 lets the router choose
	ExternalAddr netip.Addr // suggested; invalid means any
	Lifetime     uint32     // 0 deletes
	TCP          bool       // a TCP mapping (else UDP)
}

func (r pcpMapRequest) marshal() []byte {
	b := make([]byte, pcpHeaderSz+pcpMapSz)
	b[0], b[1] = pcpVersion, pcpOpMap
	binary.BigEndian.PutUint32(b[4:], r.Lifetime)
	c := r.Client.As16() // IPv4 as ::ffff:a.b.c.d
	copy(b[8:24], c[:])
	m := b[pcpHeaderSz:]
	copy(m[:12], r.Nonce[:])
	m[12] = pcpProto(r.TCP)
	binary.BigEndian.PutUint16(m[16:], r.InternalPort)
	binary.BigEndian.PutUint16(m[18:], r.ExternalPort)
	ext := netip.IPv4Unspecified() // "any IPv4": ::ffff:0.0.0.0 (RFC 6887 11.1)
	if r.ExternalAddr.IsValid() {
		ext = r.ExternalAddr
	}
	e := ext.As16()
	copy(m[20:36], e[:])
	return b
}

// pcpMapResponse is the router's answer to a MAP request.
type pcpMapResponse struct {
	Lifetime     uint32
	Epoch        uint32
	Nonce        [12]byte
	InternalPort uint16
	ExternalPort uint16
	ExternalAddr netip.Addr
}

// parsePCPMapResponse checks a PCP answer to a MAP request. An answer
// that starts with version 0 is a NAT-PMP router saying it does not
// know PCP (RFC 6887 section 9).
func parsePCPMapResponse(tcp bool, b []byte) (pcpMapResponse, error) {
	var r pcpMapResponse
	if len(b) >= 4 && b[0] == pmpVersion {
		return r, fmt.Errorf("%w: router answered PCP with NAT-PMP (%s)", ErrUnsupported, pmpResult(binary.BigEndian.Uint16(b[2:])))
	}
	if len(b) < 4 {
		return r, fmt.Errorf("%w: pcp answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != pcpVersion {
		return r, fmt.Errorf("%w: pcp answer with version %d", ErrMalformed, b[0])
	}
	if b[1] != pcpReply|pcpOpMap {
		return r, fmt.Errorf("%w: pcp answer with opcode %#x to MAP", ErrMalformed, b[1])
	}
	if code := b[3]; code != 0 {
		return r, pcpErr(code)
	}
	if len(b) < pcpHeaderSz+pcpMapSz {
		return r, fmt.Errorf("%w: pcp MAP answer has %d bytes, want %d", ErrMalformed, len(b), pcpHeaderSz+pcpMapSz)
	}
	r.Lifetime = binary.BigEndian.Uint32(b[4:])
	r.Epoch = binary.BigEndian.Uint32(b[8:])
	m := b[pcpHeaderSz:]
	copy(r.Nonce[:], m[:12])
	if m[12] != pcpProto(tcp) {
		return r, fmt.Errorf("%w: pcp MAP answer for protocol %d, want %d", ErrMalformed, m[12], pcpProto(tcp))
	}
	r.InternalPort = binary.BigEndian.Uint16(m[16:])
	r.ExternalPort = binary.BigEndian.Uint16(m[18:])
	r.ExternalAddr = netip.AddrFrom16([16]byte(m[20:36])).Unmap()
	return r, nil
}

// epochLost applies RFC 6887 section 8.5 (the same test as RFC 6886
// section 3.6): the router lost its state (rebooted, or its daemon
// restarted) when its epoch went backwards, or advanced much less (or
// much more) than the local clock did since the previous answer.
func epochLost(prevEpoch uint32, prevAt time.Time, epoch uint32, at time.Time) bool {
	if prevAt.IsZero() {
		return false
	}
	if epoch+1 < prevEpoch {
		return true
	}
	client := at.Sub(prevAt).Seconds()
	server := float64(epoch) - float64(prevEpoch)
	return client+2 < server-server/16 || server+2 < client-client/16
}

// pxpExchange sends the request built by req (given the local address the
// router will see) to the router's port 5351 and reads answers until
// parse accepts one, parse returns a router error, or the timeout ends.
// Requests are resent after 250ms, doubling (RFC 6886 3.1, RFC 6887 8.1.1).
// parse returns errSkip for packets that belong to another exchange.
func pxpExchange(ctx context.Context, dial DialFunc, gw netip.Addr, timeout time.Duration, req func(local netip.Addr) []byte, parse func([]byte) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := dial(ctx, "udp4", netip.AddrPortFrom(gw, pxpPort).String())
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
					return fmt.Errorf("%w: port %d closed (ICMP port unreachable)", errNoAnswer, pxpPort)
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
