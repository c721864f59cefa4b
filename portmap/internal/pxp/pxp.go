// Package pxp builds and parses NAT-PMP (RFC 6886) and PCP (RFC 6887)
// packets for package portmap: small fixed-format UDP messages on port
// 5351 (parsing is fuzzed in portmap's tests).
package pxp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sentinel errors; package portmap exports the same values (see its
// errors.go for what each means).
var (
	ErrNotAuthorized = errors.New("router refused the mapping")
	ErrConflict      = errors.New("external port is taken")
	ErrMalformed     = errors.New("malformed router answer")
	ErrRouterError   = errors.New("router error")
	ErrUnsupported   = errors.New("protocol not supported by the router")
)

// NAT-PMP (RFC 6886) and PCP (RFC 6887) share UDP port 5351 and a first
// byte that tells the version (0 for NAT-PMP, 2 for PCP). Both are small
// fixed-format packets, built and parsed here.

const (
	Port = 5351

	PMPVersion    = 0
	PMPOpAddr     = 0
	PMPOpMapUDP   = 1
	PMPOpMapTCP   = 2
	PMPReply      = 0x80
	PMPAddrRespSz = 12
	PMPMapRespSz  = 16

	PCPVersion    = 2
	PCPOpAnnounce = 0
	PCPOpMap      = 1
	PCPReply      = 0x80
	PCPHeaderSz   = 24
	PCPMapSz      = 36
	PCPProtoUDP   = 17
	PCPProtoTCP   = 6
)

// PMPResult names NAT-PMP result codes (RFC 6886 section 3.5).
func PMPResult(code uint16) string {
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

func PMPErr(code uint16) error {
	switch code {
	case 1, 5:
		return fmt.Errorf("%w: nat-pmp %s", ErrUnsupported, PMPResult(code))
	case 2:
		return fmt.Errorf("%w: nat-pmp %s", ErrNotAuthorized, PMPResult(code))
	}
	return fmt.Errorf("%w: nat-pmp %s", ErrRouterError, PMPResult(code))
}

var pcpResults = [...]string{
	"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
	"UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
	"USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS",
}

func PCPResult(code uint8) string {
	if int(code) < len(pcpResults) {
		return pcpResults[code]
	}
	return fmt.Sprintf("result code %d", code)
}

func PCPErr(code uint8) error {
	switch code {
	case 1, 4:
		return fmt.Errorf("%w: pcp %s", ErrUnsupported, PCPResult(code))
	case 2:
		return fmt.Errorf("%w: pcp %s (PCP is off or forbids this port)", ErrNotAuthorized, PCPResult(code))
	case 11:
		return fmt.Errorf("%w: pcp %s (the port is taken, or the router's rules forbid it)", ErrConflict, PCPResult(code))
	case 12:
		return fmt.Errorf("%w: pcp %s (another NAT between licgate and the router?)", ErrRouterError, PCPResult(code))
	}
	return fmt.Errorf("%w: pcp %s", ErrRouterError, PCPResult(code))
}

// PMPAddrResponse is the answer to NAT-PMP opcode 0.
type PMPAddrResponse struct {
	Epoch uint32
	Addr  netip.Addr
}

// PMPMapResponse is the answer to NAT-PMP opcode 1 (UDP).
type PMPMapResponse struct {
	Epoch        uint32
	InternalPort uint16
	ExternalPort uint16
	Lifetime     uint32
}

func BuildPMPAddrRequest() []byte { return []byte{PMPVersion, PMPOpAddr} }

func BuildPMPMapRequest(tcp bool, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[0], b[1] = PMPVersion, PMPMapOp(tcp)
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
	if b[0] != PMPVersion {
		return fmt.Errorf("%w: nat-pmp answer with version %d", ErrMalformed, b[0])
	}
	if b[1] != PMPReply|op {
		return fmt.Errorf("%w: nat-pmp answer with opcode %d to request %d", ErrMalformed, b[1], op)
	}
	if code := binary.BigEndian.Uint16(b[2:]); code != 0 {
		return PMPErr(code)
	}
	if len(b) < size {
		return fmt.Errorf("%w: nat-pmp answer to opcode %d has %d bytes, want %d", ErrMalformed, op, len(b), size)
	}
	return nil
}

func ParsePMPAddrResponse(b []byte) (PMPAddrResponse, error) {
	if err := pmpHeader(b, PMPOpAddr, PMPAddrRespSz); err != nil {
		return PMPAddrResponse{}, err
	}
	return PMPAddrResponse{
		Epoch: binary.BigEndian.Uint32(b[4:]),
		Addr:  netip.AddrFrom4([4]byte(b[8:12])),
	}, nil
}

// PMPMapOp is NAT-PMP's map opcode for the protocol.
func PMPMapOp(tcp bool) byte {
	if tcp {
		return PMPOpMapTCP
	}
	return PMPOpMapUDP
}

// PCPProto is PCP's protocol number for the protocol.
func PCPProto(tcp bool) byte {
	if tcp {
		return PCPProtoTCP
	}
	return PCPProtoUDP
}

func ParsePMPMapResponse(tcp bool, b []byte) (PMPMapResponse, error) {
	if err := pmpHeader(b, PMPMapOp(tcp), PMPMapRespSz); err != nil {
		return PMPMapResponse{}, err
	}
	return PMPMapResponse{
		Epoch:        binary.BigEndian.Uint32(b[4:]),
		InternalPort: binary.BigEndian.Uint16(b[8:]),
		ExternalPort: binary.BigEndian.Uint16(b[10:]),
		Lifetime:     binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// PCPMapRequest is a PCP MAP request for UDP (RFC 6887 sections 7.1, 11.1).
type PCPMapRequest struct {
	Client       netip.Addr // the address the router sees as source
	Nonce        [12]byte   // same for every renewal of one mapping
	InternalPort uint16
	ExternalPort uint16     // suggested; 0 lets the router choose
	ExternalAddr netip.Addr // suggested; invalid means any
	Lifetime     uint32     // 0 deletes
	TCP          bool       // a TCP mapping (else UDP)
	// PreferFailure adds the PREFER_FAILURE option (RFC 6887 13.2): a
	// router that cannot grant ExternalPort answers
	// CANNOT_PROVIDE_EXTERNAL instead of choosing another port. miniupnpd
	// without it walks all 65,535 ports through its rules when the
	// internal port is forbidden, busy for many seconds per request.
	PreferFailure bool
}

// pcpOptPreferFailure is the PREFER_FAILURE option's code.
const pcpOptPreferFailure = 2

func (r PCPMapRequest) Marshal() []byte {
	n := PCPHeaderSz + PCPMapSz
	if r.PreferFailure {
		n += 4 // option header, no data
	}
	b := make([]byte, n)
	if r.PreferFailure {
		b[PCPHeaderSz+PCPMapSz] = pcpOptPreferFailure
	}
	b[0], b[1] = PCPVersion, PCPOpMap
	binary.BigEndian.PutUint32(b[4:], r.Lifetime)
	c := r.Client.As16() // IPv4 as ::ffff:a.b.c.d
	copy(b[8:24], c[:])
	m := b[PCPHeaderSz:]
	copy(m[:12], r.Nonce[:])
	m[12] = PCPProto(r.TCP)
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

// PCPMapResponse is the router's answer to a MAP request.
type PCPMapResponse struct {
	Lifetime     uint32
	Epoch        uint32
	Nonce        [12]byte
	InternalPort uint16
	ExternalPort uint16
	ExternalAddr netip.Addr
}

// ParsePCPMapResponse checks a PCP answer to a MAP request. An answer
// that starts with version 0 is a NAT-PMP router saying it does not
// know PCP (RFC 6887 section 9).
func ParsePCPMapResponse(tcp bool, b []byte) (PCPMapResponse, error) {
	var r PCPMapResponse
	if len(b) >= 4 && b[0] == PMPVersion {
		return r, fmt.Errorf("%w: router answered PCP with NAT-PMP (%s)", ErrUnsupported, PMPResult(binary.BigEndian.Uint16(b[2:])))
	}
	if len(b) < 4 {
		return r, fmt.Errorf("%w: pcp answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != PCPVersion {
		return r, fmt.Errorf("%w: pcp answer with version %d", ErrMalformed, b[0])
	}
	if b[1] != PCPReply|PCPOpMap {
		return r, fmt.Errorf("%w: pcp answer with opcode %#x to MAP", ErrMalformed, b[1])
	}
	if code := b[3]; code != 0 {
		return r, PCPErr(code)
	}
	if len(b) < PCPHeaderSz+PCPMapSz {
		return r, fmt.Errorf("%w: pcp MAP answer has %d bytes, want %d", ErrMalformed, len(b), PCPHeaderSz+PCPMapSz)
	}
	r.Lifetime = binary.BigEndian.Uint32(b[4:])
	r.Epoch = binary.BigEndian.Uint32(b[8:])
	m := b[PCPHeaderSz:]
	copy(r.Nonce[:], m[:12])
	if m[12] != PCPProto(tcp) {
		return r, fmt.Errorf("%w: pcp MAP answer for protocol %d, want %d", ErrMalformed, m[12], PCPProto(tcp))
	}
	r.InternalPort = binary.BigEndian.Uint16(m[16:])
	r.ExternalPort = binary.BigEndian.Uint16(m[18:])
	r.ExternalAddr = netip.AddrFrom16([16]byte(m[20:36])).Unmap()
	return r, nil
}

// EpochLost applies RFC 6887 section 8.5 (the same test as RFC 6886
// section 3.6): the router lost its state (rebooted, or its daemon
// restarted) when its epoch went backwards, or advanced much less (or
// much more) than the local clock did since the previous answer.
func EpochLost(prevEpoch uint32, prevAt time.Time, epoch uint32, at time.Time) bool {
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
