//go:build nethttpomithttp2

package certs

// httpProtos, in a build whose net/http has no HTTP/2 (the router build's
// nethttpomithttp2 tag), offer only http/1.1: a server that agreed to h2
// could not speak it.
var httpProtos = []string{"http/1.1"}
