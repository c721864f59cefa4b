// Package interop holds licgate's tests against real WireGuard clients:
// Debian's wg-quick with wireguard-go, in network namespaces the tests
// create (as root), with licgate running as its own process in an
// "office" namespace and the home computer in a "home" namespace.
package interop
