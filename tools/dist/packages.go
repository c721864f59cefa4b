package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the packagers
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/ipk"
	_ "github.com/goreleaser/nfpm/v2/rpm"

	"github.com/licgate/licgate/service"
)

// packagesFor says which packages a target gets: .deb and .rpm for the
// server CPUs, .ipk for the router CPUs (and x86-64 OpenWrt).
func packagesFor(t Target, router bool) []string {
	if t.GOOS != "linux" {
		return nil
	}
	var p []string
	if !router && (t.GOARCH == "amd64" || t.GOARCH == "arm64" || t.GOARCH == "arm") {
		p = append(p, "deb", "rpm")
	}
	p = append(p, "ipk")
	return p
}

func wanted(list []string, p string) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

// packageTarget builds the target's packages from its binary in o.Out.
func packageTarget(o Options, t Target, binary, suffix string) ([]string, error) {
	var kinds []string
	for _, k := range packagesFor(t, o.Router) {
		if wanted(o.Packages, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	stage, err := os.MkdirTemp("", "licgate-dist-")
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	defer os.RemoveAll(stage)
	example, err := os.ReadFile(filepath.Join(o.Root, "deploy", "licgate.example.yaml"))
	if err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	var out []string
	for _, kind := range kinds {
		info, err := packageInfo(o, t, kind, filepath.Join(o.Out, binary), stage, example)
		if err != nil {
			return out, err
		}
		name, err := writePackage(info, kind, o.Out, strings.TrimPrefix(t.BinaryName(suffix), "licgate-linux-"))
		if err != nil {
			return out, err
		}
		out = append(out, name)
	}
	return out, nil
}

// packageVersion is the version nfpm parses as semver: v1.2.0 -> 1.2.0,
// v0.0.0-dev -> 0.0.0~dev in the .deb. git describe's "-3-gabc" suffix and
// "-dirty" become prerelease parts.
func packageVersion(v string) string {
	return strings.TrimPrefix(v, "v")
}

func stageFile(dir, name, content string) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("package: %w", err)
	}
	return p, nil
}

func packageInfo(o Options, t Target, kind, binary, stage string, example []byte) (*nfpm.Info, error) {
	info := &nfpm.Info{
		Name:        "licgate",
		Arch:        t.nfpmArch(),
		Platform:    "linux",
		Version:     packageVersion(o.Version),
		Maintainer:  "licgate maintainers <licgate@users.noreply.github.com>",
		Description: "WireGuard gateway for network license servers (CodeMeter)",
		Homepage:    "https://github.com/licgate/licgate",
		License:     "see https://github.com/licgate/licgate",
		Section:     "net",
		Priority:    "optional",
	}
	bin := &files.Content{Source: binary, Destination: "/usr/bin/licgate", FileInfo: &files.ContentFileInfo{Mode: 0o755}}
	switch kind {
	case "deb", "rpm":
		unitDir := "/usr/lib/systemd/system"
		if kind == "deb" {
			unitDir = "/lib/systemd/system"
		}
		unit, err := stageFile(stage, "licgate.service",
			service.SystemdUnit(service.Config{User: "licgate", Paths: service.PathsFor("linux")}, "/usr/bin/licgate"))
		if err != nil {
			return nil, err
		}
		conf, err := stageFile(stage, "licgate.yaml", string(example))
		if err != nil {
			return nil, err
		}
		// The service reads its config through the group licgate. The .rpm's
		// %pre makes the group before the files land, so its payload says so
		// (rpm -V agrees); the .deb's group comes from postinst, after unpack.
		group := "root"
		if kind == "rpm" {
			group = "licgate"
		}
		info.Contents = files.Contents{
			bin,
			{Source: unit, Destination: unitDir + "/licgate.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			{Source: conf, Destination: "/etc/licgate/licgate.yaml", Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640, Group: group}},
			{Destination: "/etc/licgate", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750, Group: group}},
		}
		if kind == "deb" {
			info.Depends = []string{"adduser"}
			info.Scripts = nfpm.Scripts{PostInstall: "postinst", PreRemove: "prerm", PostRemove: "postrm"}
			for name, body := range map[string]string{"postinst": debPostinst, "prerm": debPrerm, "postrm": debPostrm} {
				if _, err := stageFile(stage, name, body); err != nil {
					return nil, err
				}
			}
		} else {
			info.Scripts = nfpm.Scripts{PreInstall: "pre", PostInstall: "post", PreRemove: "preun", PostRemove: "postun"}
			for name, body := range map[string]string{"pre": rpmPre, "post": rpmPost, "preun": rpmPreun, "postun": rpmPostun} {
				if _, err := stageFile(stage, name, body); err != nil {
					return nil, err
				}
			}
		}
	case "ipk":
		// Any OpenWrt CPU of the family runs the static binary: "all" keeps
		// opkg from refusing it over a sub-architecture (mipsel_24kc versus
		// mipsel_74kc). The file name carries the Go architecture instead.
		info.Arch = "all"
		initScript := filepath.Join(o.Root, "deploy", "openwrt", "licgate.init")
		conf := strings.Replace(string(example), "state_dir: /var/lib/licgate ", "state_dir: /etc/licgate/state", 1)
		if conf == string(example) {
			return nil, fmt.Errorf("package: ipk: deploy/licgate.example.yaml has no `state_dir: /var/lib/licgate` line to point at flash")
		}
		confFile, err := stageFile(stage, "licgate-openwrt.yaml", conf)
		if err != nil {
			return nil, err
		}
		keep, err := stageFile(stage, "keep", "/etc/licgate/\n")
		if err != nil {
			return nil, err
		}
		info.Contents = files.Contents{
			bin,
			{Source: initScript, Destination: "/etc/init.d/licgate", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
			{Source: confFile, Destination: "/etc/licgate/licgate.yaml", Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o600}},
			// sysupgrade keeps the config and the state (WireGuard key, devices).
			{Source: keep, Destination: "/lib/upgrade/keep.d/licgate", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		}
		info.Scripts = nfpm.Scripts{PostInstall: "ipk-postinst", PreRemove: "ipk-prerm"}
		for name, body := range map[string]string{"ipk-postinst": ipkPostinst, "ipk-prerm": ipkPrerm} {
			if _, err := stageFile(stage, name, body); err != nil {
				return nil, err
			}
		}
	}
	// Script names above are relative to the stage directory.
	for _, s := range []*string{&info.Scripts.PreInstall, &info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		if *s != "" {
			*s = filepath.Join(stage, *s)
		}
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, kind); err != nil {
		return nil, fmt.Errorf("package: %s: %w", kind, err)
	}
	return info, nil
}

// writePackage writes the package under its conventional name; an .ipk's
// "_all" becomes label (mipsle, armv7, mips-router...): see Arch "all" above.
func writePackage(info *nfpm.Info, kind, outDir, label string) (string, error) {
	pkgr, err := nfpm.Get(kind)
	if err != nil {
		return "", fmt.Errorf("package: %w", err)
	}
	name := pkgr.ConventionalFileName(info)
	if kind == "ipk" {
		name = strings.TrimSuffix(name, "_all.ipk") + "_" + label + ".ipk"
	}
	return name, writeFileWith(filepath.Join(outDir, name), func(f *os.File) error { return pkgr.Package(info, f) })
}

func writeFileWith(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("package: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("package: %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	return nil
}
