// Package certs owns licgate's TLS certificates: the internal CA (kept in
// the state directory, its root importable by admins' browsers), the
// certificate for the gateway's tunnel address (admin API and console,
// always from the internal CA) and the public name's (enrolment links:
// ACME first, the internal CA while ACME fails).
//
// Typical usage:
//
//	m := certs.New(stateDir, logger)
//	defer m.Close()
//	adminTLS, err := m.TunnelTLS(ctx, "10.44.0.1")
//	publicTLS, err := m.PublicTLS(ctx, "office.example.com", certs.ACME{Directory: "off"})
//	ln = tls.NewListener(ln, publicTLS)
//
// Builds made with the licgate_omit_acme tag (the router build) have no
// certmagic: the same Manager API signs both certificates with the
// internal CA directly, keeps them in memory and signs them again on the
// first handshake after two thirds of their lifetime. ACMEBuilt tells
// which build this is; PublicTLS with an ACME directory fails there with
// ErrACMEOmitted, and config refuses such a directory before that.
package certs
