package licmgr

import "time"

// Held is a live session as the reconnect rule sees it: one connection of
// a device to a service's seat port, with when the device last sent a byte
// on it.
type Held struct {
	// ID is the session's identifier in the caller's table.
	ID uint64
	// Device and Service identify who holds it, and where.
	Device, Service string
	// Port is the gateway port it came in on (the vendor daemon's, the ISV
	// server's, or the license port).
	Port int
	// HoldsSeats: it came in on a port whose connections hold seats.
	HoldsSeats bool
	// LastFromDevice is when the device last sent bytes on it (its start,
	// if it never did).
	LastFromDevice time.Time
}

// ReconnectRule decides which of a device's earlier sessions to cut when
// the device opens a new seat connection to the same service.
//
// Why: after a network drop the home client's TCP connection is gone, but
// the gateway's connection to the license server still stands, so the
// server still counts the seat. The client reconnects and checks out a
// second seat; the first lingers until the server's own timeout (CodeMeter
// CleanUpTimeOut, 120 s; FlexNet's heartbeat, documented by Revenera as
// "additional license consumed on client reconnection post heartbeat
// interval"), or for good. Closing the earlier upstream connection at once
// lets the server release it: the device holds one seat, not two.
//
// An earlier session that is still talking (the device sent something
// within Silence) is a second application on the same device taking a
// second seat on purpose, and is left alone.
type ReconnectRule struct {
	// Off disables the rule: earlier sessions are never cut.
	Off bool
	// Silence is how long an earlier session must have heard nothing from
	// the device to count as left behind. If zero, 10s: clients send
	// heartbeats far less often than that only when idle, and a real drop
	// and reconnect takes longer than a TCP retransmit or two. Negative
	// means any earlier session is cut, talking or not (one seat
	// connection per device and service).
	Silence time.Duration
}

func (r ReconnectRule) silence() time.Duration {
	if r.Silence == 0 {
		return 10 * time.Second
	}
	return r.Silence
}

// Supersede returns the IDs of sessions in live that the new connection
// replaces: the same device and service, on a seat port, silent from the
// device for at least Silence at now. The caller cuts them (closing the
// upstream side first, so the server sees the release) and does not count
// them against the caps when it admits the new connection. A new
// connection to a port that holds no seats (lmgrd, rlm) supersedes
// nothing: lookups come and go beside a held seat.
func (r ReconnectRule) Supersede(now time.Time, device, service string, newHoldsSeats bool, live []Held) []uint64 {
	if r.Off || !newHoldsSeats {
		return nil
	}
	var out []uint64
	for _, h := range live {
		if h.Device != device || h.Service != service || !h.HoldsSeats {
			continue
		}
		if r.Silence < 0 || now.Sub(h.LastFromDevice) >= r.silence() {
			out = append(out, h.ID)
		}
	}
	return out
}
