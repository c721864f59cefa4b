//go:build unix

package portmap

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseAddr lets other programs on the host (another PCP or NAT-PMP
// client) listen for router announcements on the same port: each socket
// gets its copy of a multicast datagram.
func reuseAddr(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
