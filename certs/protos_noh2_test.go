//go:build nethttpomithttp2

package certs

import "testing"

// Without HTTP/2 in net/http, no listener may agree to h2.
func TestNoH2Offered(t *testing.T) {
	for _, p := range httpProtos {
		if p == "h2" {
			t.Fatalf("httpProtos %v offer h2 in a build without HTTP/2", httpProtos)
		}
	}
}
