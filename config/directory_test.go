package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// The safeguard's settings reach the directory package; out-of-range
// values are refused at load, naming the key.
func TestDirectoryMaxChange(t *testing.T) {
	base := "directory:\n  url: ldaps://dc1.corp.example\n  base_dn: dc=corp,dc=example\n"
	file := filepath.Join(t.TempDir(), "licgate.yaml")
	c, err := Parse(file, []byte(base+"  max_change: 0.25\n  max_change_users: 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.DirectorySyncConfig(); d.MaxChange != 0.25 || d.MaxChangeUsers != 8 {
		t.Errorf("directory config: %+v", d)
	}
	for _, bad := range []string{"  max_change: 1.5\n", "  max_change: -0.1\n", "  max_change_users: -1\n"} {
		if _, err := Parse(file, []byte(base+bad)); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(strings.Split(bad, ":")[0])) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
