//go:build !unix

package adminapi

// socketGroup: on Windows the state directory's ACL (Administrators and
// SYSTEM) decides who may use the socket; there is no group to join.
func socketGroup(string) string { return "Administrators" }
