package service

import (
	"os"
	"runtime"
	"strings"
)

// PathSet is where licgate keeps its files on one platform.
type PathSet struct {
	// Config is the default configuration file (`licgate serve -c`).
	Config string `json:"config"`
	// StateDir holds the database, the WireGuard key and the admin socket;
	// only the service's user (or SYSTEM and Administrators on Windows) may
	// read it.
	StateDir string `json:"state_dir"`
	// Socket is the admin API's unix socket (AF_UNIX also on Windows 10 1803
	// and later; the state directory's ACL protects it there).
	Socket string `json:"socket"`
	// Log is where the service's own output goes when the service manager
	// does not collect it (launchd); empty where it does (journald, the
	// Windows Event Log, syslog via daemon(8), logd on OpenWrt).
	Log string `json:"log,omitempty"`
}

// Paths returns the paths for the running system.
func Paths() PathSet {
	goos := runtime.GOOS
	if goos == "linux" && isOpenWrt() {
		goos = "openwrt"
	}
	return PathsFor(goos)
}

func isOpenWrt() bool {
	_, err := os.Stat("/etc/openwrt_release")
	return err == nil
}

// PathsFor returns the paths for a platform: a GOOS value, or "openwrt" (a
// Linux whose /var is a RAM disk, so the state lives on flash under /etc).
// Unknown values get the Linux paths.
func PathsFor(goos string) PathSet {
	switch goos {
	case "windows":
		dir := programData() + `\licgate`
		return PathSet{Config: dir + `\licgate.yaml`, StateDir: dir, Socket: dir + `\licgate.sock`}
	case "darwin":
		dir := "/Library/Application Support/licgate"
		return PathSet{Config: dir + "/licgate.yaml", StateDir: dir, Socket: dir + "/licgate.sock",
			Log: "/Library/Logs/licgate/licgate.log"}
	case "freebsd", "openbsd", "netbsd", "dragonfly":
		return PathSet{Config: "/usr/local/etc/licgate/licgate.yaml", StateDir: "/var/db/licgate",
			Socket: "/var/db/licgate/licgate.sock"}
	case "openwrt":
		return PathSet{Config: "/etc/licgate/licgate.yaml", StateDir: "/etc/licgate/state",
			Socket: "/var/run/licgate.sock"}
	default:
		return PathSet{Config: "/etc/licgate/licgate.yaml", StateDir: "/var/lib/licgate",
			Socket: "/var/lib/licgate/licgate.sock"}
	}
}

// programData is %ProgramData%: the environment's value when it names an
// absolute Windows path, else C:\ProgramData (the value on every Windows
// since Vista). The Windows build asks the shell for FOLDERID_ProgramData.
func programData() string {
	if d := programDataKnownFolder(); d != "" {
		return d
	}
	if d := os.Getenv("ProgramData"); len(d) >= 3 && d[1] == ':' && (d[2] == '\\' || d[2] == '/') {
		return strings.TrimRight(d, `\/`)
	}
	return `C:\ProgramData`
}
