//go:build !unix

package portmap

import "syscall"

func reuseAddr(network, address string, c syscall.RawConn) error { return nil }
