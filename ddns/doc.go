// Package ddns keeps the office's DNS name on its current public address.
//
// Detection asks several Sources (a local interface, DNS echo servers
// queried directly through miekg/dns, HTTP echo URLs) and accepts an
// address only when a quorum agrees; a source answering garbage, a private
// or CGNAT address, or nothing at all is reported and not trusted. IPv4 and
// IPv6 are handled independently.
//
// Updaters: RFC 2136 UPDATE with TSIG (also usable by certmagic's DNS-01
// solver through the libdns RecordAppender/RecordDeleter interfaces),
// dyndns2 (No-IP, Dyn and others), DuckDNS and Cloudflare. A Manager runs
// the loop: detect, compare with what each provider last accepted (kept in
// a StateStore so restarts do not re-send) and with what the authoritative
// server says, update only on change, back off on trouble, and stop a
// provider for good on a fatal answer (bad auth, abuse) until the config
// changes. Stops and provider-requested waits are Holds in the StateStore,
// bound to a fingerprint of the provider's configuration, so a restart
// obeys them. DNS answers (echo sources, RFC 2136 read-back) count only
// when every record answers exactly the question asked.
//
// WatchInterfaces (Linux netlink; nil elsewhere) signals only changes of
// the uplink (default routes, their interfaces' addresses and state) and
// of public addresses; the Manager gathers a burst of signals for
// Debounce before it checks.
//
// Typical usage:
//
//	det := &ddns.Detector{Sources: []ddns.Source{ddns.OpenDNS(), ddns.CloudflareWhoami()}}
//	m := &ddns.Manager{
//		Host:      "office.example.com",
//		Detector:  det,
//		Providers: []ddns.Provider{{Name: "bind", Updater: &ddns.RFC2136{Server: "ns1:53", Zone: "example.com", KeyName: "ddns", Secret: secret}}},
//		State:     stateStore, // also keeps holds: DDNSHold, SetDDNSHold, ClearDDNSHold
//		Watch:     ddns.WatchInterfaces(ctx, logger),
//	}
//	go m.Run(ctx)
//
// RFC 2136 over miekg/dns (see its DYNAMIC UPDATES section): the update
// message deletes the name's RRset and inserts the new record in one
// message (atomic on the server), and SetTsig comes last.
//
// This package imports nothing else from licgate.
package ddns
