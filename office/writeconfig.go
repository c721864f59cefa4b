package office

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// configGroup is the group the packaged service runs as: a config file
// setup creates belongs to it (when it exists), so the daemon can read it.
var configGroup = "licgate"

// writeConfig replaces the config file at path with data, atomically (a
// temporary file in the same directory, synced, renamed over it). An
// existing file keeps its owner, group and mode: the packaged unit runs
// as user licgate and must still read it. A new file is 0640, group
// configGroup when that group exists; a new directory 0750, same group.
func writeConfig(path string, data []byte) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // a link (e.g. into a config-management tree) stays a link
	}
	mode, uid, gid := fs.FileMode(0o640), -1, -1
	st, err := os.Stat(path)
	switch {
	case err == nil:
		mode = st.Mode().Perm()
		uid, gid, _ = fileOwner(st)
	case errors.Is(err, fs.ErrNotExist):
		gid = groupID(configGroup)
		dir := filepath.Dir(path)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return fmt.Errorf("office: config directory: %w", err)
			}
			if gid >= 0 {
				if err := os.Chown(dir, -1, gid); err != nil {
					return fmt.Errorf("office: config directory %s: group %s: %w", dir, configGroup, err)
				}
			}
		}
	default:
		return fmt.Errorf("office: config %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("office: write config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing there
	err = f.Chmod(mode)
	if err == nil && (uid >= 0 || gid >= 0) {
		err = chown(f, uid, gid)
	}
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("office: write config %s: %w", path, err)
	}
	return nil
}

// groupID is the numeric id of the group name, or -1 when there is no
// such group (or the platform has no numeric groups).
func groupID(name string) int {
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return id
}

// marshalYAML writes the config back with two-space indentation, as the
// shipped example and the docs have it (yaml.Marshal indents by four).
func marshalYAML(root *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("office: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("office: %w", err)
	}
	return b.Bytes(), nil
}
