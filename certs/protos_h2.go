//go:build !nethttpomithttp2

package certs

// httpProtos are what every HTTPS listener of licgate speaks: browsers and
// curl offer h2 and http/1.1, and a server that lists only acme-tls/1
// answers them with "no application protocol".
var httpProtos = []string{"h2", "http/1.1"}
