//go:build !windows

package office

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func owner(t *testing.T, path string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Sys().(*syscall.Stat_t)
	return s.Uid, s.Gid, st.Mode().Perm()
}

// TestWriteConfigOwner: rewriting keeps the file's owner, group and mode
// (the packaged unit reads it as user licgate); a new file is 0640 and
// belongs to the service's group, in a new directory 0750 of that group.
// Needs root (chown).
func TestWriteConfigOwner(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs this as root (it chowns)")
		}
		t.Skip("needs root: chown")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "licgate.yaml")
	if err := os.WriteFile(path, []byte("old: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeConfig(path, []byte("new: 1\n")); err != nil {
		t.Fatal(err)
	}
	if uid, gid, mode := owner(t, path); uid != 65534 || gid != 65534 || mode != 0o644 {
		t.Errorf("rewritten config is %d:%d %o, want 65534:65534 644", uid, gid, mode)
	}
	if b, _ := os.ReadFile(path); string(b) != "new: 1\n" {
		t.Errorf("content %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A new file: the service's group, 0640; a missing directory 0750.
	defer func(g string) { configGroup = g }(configGroup)
	configGroup = "nogroup" // Debian's 65534; the package makes "licgate"
	gid := groupID(configGroup)
	if gid < 0 {
		t.Fatalf("no group %s on this machine", configGroup)
	}
	fresh := filepath.Join(dir, "etc", "licgate.yaml")
	if err := writeConfig(fresh, []byte("new: 1\n")); err != nil {
		t.Fatal(err)
	}
	if uid, g, mode := owner(t, fresh); uid != 0 || int(g) != gid || mode != 0o640 {
		t.Errorf("new config is %d:%d %o, want 0:%d 640", uid, g, mode, gid)
	}
	if _, g, mode := owner(t, filepath.Dir(fresh)); int(g) != gid || mode != 0o750 {
		t.Errorf("new directory is group %d mode %o, want %d 750", g, mode, gid)
	}
	configGroup = "licgate-no-such-group"
	other := filepath.Join(dir, "other.yaml")
	if err := writeConfig(other, []byte("new: 1\n")); err != nil {
		t.Fatal(err)
	}
	if uid, g, mode := owner(t, other); uid != 0 || g != 0 || mode != 0o640 {
		t.Errorf("new config without the group is %d:%d %o, want 0:0 640", uid, g, mode)
	}
}

// TestWriteConfigThroughSymlink: a config that is a symbolic link stays
// one; the file it points at gets the new content.
func TestWriteConfigThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(real, []byte("old: 1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "licgate.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := writeConfig(link, []byte("new: 1\n")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new: 1\n" {
		t.Errorf("target content %q", b)
	}
}
