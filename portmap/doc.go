// Package portmap opens licgate's WireGuard UDP port on the office router
// without anyone logging into the router: it asks the router itself with
// PCP (RFC 6887), NAT-PMP (RFC 6886) or UPnP IGD (v1 and v2,
// WANIPConnection and WANPPPConnection), whichever answers first in the
// configured order. It owns that one mapping: it renews the lease at half
// its lifetime, checks every CheckInterval that the router still has it
// (a PCP/NAT-PMP epoch that went backwards, or a UPnP entry that is gone,
// means the router restarted) and makes it again, at once when a PCP or
// NAT-PMP router multicasts that it restarted; it removes it on Close.
//
// The router also tells its external address, so a Mapper is a
// ddns.Source: the DDNS quorum can count it as one more opinion.
//
// PCP and NAT-PMP are small fixed-format UDP packets, built and parsed
// here (parsing is fuzzed). UPnP discovery (SSDP) and the description
// fetch are done here too, so every socket goes through Config.Dial and
// Config.ListenPacket; the SOAP calls use github.com/huin/goupnp.
//
// Typical usage:
//
//	m := portmap.New(portmap.Config{InternalPort: 51820}, logger)
//	go m.Run(ctx)          // retries until the router answers; see Status
//	defer m.Close()        // removes the mapping from the router
//	st := m.Status()       // st.Protocol, st.ExternalAddress, st.ExternalPort, st.LeaseExpiry
//	quorum.Sources = append(quorum.Sources, m) // m implements ddns.Source (IPv4)
package portmap
