// Package ddns keeps the office's DNS name on its current public address:
// detection from several sources with a quorum, and updaters (RFC 2136 with
// TSIG, dyndns2, DuckDNS, Cloudflare) that update only on change.
package ddns
