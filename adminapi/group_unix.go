//go:build unix

package adminapi

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// socketGroup names the group that may use socket: the socket's, else
// its directory's, else licgate (the package's).
func socketGroup(socket string) string {
	for _, p := range []string{socket, filepath.Dir(socket)} {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok || sys.Gid == 0 {
			continue
		}
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(sys.Gid), 10)); err == nil {
			return g.Name
		}
	}
	return "licgate"
}
