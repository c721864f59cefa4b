//go:build !windows

package office

import (
	"io/fs"
	"os"
	"syscall"
)

// fileOwner is the file's owner and group.
func fileOwner(st fs.FileInfo) (uid, gid int, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, -1, false
	}
	return int(s.Uid), int(s.Gid), true
}

func chown(f *os.File, uid, gid int) error { return f.Chown(uid, gid) }
