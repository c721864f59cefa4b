package service

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"path"
	"strings"
)

// plistEntry is one key of a plist <dict>; Value is a string, bool, int,
// []string or []plistEntry (a nested dict). Keys keep their order, so the
// file reads as written and diffs stay small.
type plistEntry struct {
	Key   string
	Value any
}

// LaunchdPlist returns the launchd property list for cfg: a daemon that starts
// at boot, is restarted when it exits, and writes its output to Paths.Log.
func LaunchdPlist(cfg Config, executable string) ([]byte, error) {
	p := cfg.paths()
	dict := []plistEntry{
		{"Label", cfg.label()},
		{"ProgramArguments", append([]string{executable}, cfg.args()...)},
		{"RunAtLoad", true},
		// Restart after a crash, but not after a clean exit (a `licgate
		// serve` that stopped on a config error would otherwise spin).
		{"KeepAlive", []plistEntry{{"SuccessfulExit", false}}},
		{"ThrottleInterval", 5},
		{"WorkingDirectory", p.StateDir},
		{"ProcessType", "Background"},
		{"Umask", 0o077},
	}
	if p.Log != "" {
		dict = append(dict, plistEntry{"StandardOutPath", p.Log}, plistEntry{"StandardErrorPath", p.Log})
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "\t")
	root := xml.StartElement{Name: xml.Name{Local: "plist"}, Attr: []xml.Attr{{Name: xml.Name{Local: "version"}, Value: "1.0"}}}
	if err := enc.EncodeToken(root); err != nil {
		return nil, fmt.Errorf("service: plist: %w", err)
	}
	if err := encodePlistValue(enc, dict); err != nil {
		return nil, fmt.Errorf("service: plist: %w", err)
	}
	if err := enc.EncodeToken(root.End()); err != nil {
		return nil, fmt.Errorf("service: plist: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("service: plist: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func encodePlistValue(enc *xml.Encoder, v any) error {
	elem := func(name, text string) error {
		return enc.EncodeElement(text, xml.StartElement{Name: xml.Name{Local: name}})
	}
	switch v := v.(type) {
	case string:
		return elem("string", v)
	case int:
		return elem("integer", fmt.Sprint(v))
	case bool:
		name := "false"
		if v {
			name = "true"
		}
		start := xml.StartElement{Name: xml.Name{Local: name}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		return enc.EncodeToken(start.End())
	case []string:
		start := xml.StartElement{Name: xml.Name{Local: "array"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, s := range v {
			if err := elem("string", s); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	case []plistEntry:
		start := xml.StartElement{Name: xml.Name{Local: "dict"}}
		if err := enc.EncodeToken(start); err != nil {
			return err
		}
		for _, e := range v {
			if err := elem("key", e.Key); err != nil {
				return err
			}
			if err := encodePlistValue(enc, e.Value); err != nil {
				return err
			}
		}
		return enc.EncodeToken(start.End())
	}
	return fmt.Errorf("unsupported plist value %T", v)
}

// launchd drives launchctl(1) with the domain-target verbs of macOS 10.11+.
type launchd struct {
	cfg Config
	fs  fsys
	run runFunc
}

func (l *launchd) plistPath() string { return "/Library/LaunchDaemons/" + l.cfg.label() + ".plist" }
func (l *launchd) target() string    { return "system/" + l.cfg.label() }

func (l *launchd) launchctl(ctx context.Context, args ...string) ([]byte, error) {
	l.cfg.log().Info("service: launchctl", "args", args)
	out, err := l.run(ctx, "launchctl", args...)
	if err != nil {
		return out, cmdError("launchctl", args, out, err)
	}
	return out, nil
}

// loaded reports whether launchd knows the job (`launchctl print` fails with
// "Could not find service" otherwise).
func (l *launchd) loaded(ctx context.Context) bool {
	_, err := l.run(ctx, "launchctl", "print", l.target())
	return err == nil
}

func (l *launchd) Install(ctx context.Context) error {
	exe, err := l.cfg.executable()
	if err != nil {
		return err
	}
	data, err := LaunchdPlist(l.cfg, exe)
	if err != nil {
		return err
	}
	p := l.cfg.paths()
	if err := l.fs.mkdirPrivate(p.StateDir); err != nil {
		return err
	}
	if p.Log != "" {
		if err := l.fs.mkdirPrivate(path.Dir(p.Log)); err != nil {
			return err
		}
	}
	if l.loaded(ctx) {
		if _, err := l.launchctl(ctx, "bootout", l.target()); err != nil {
			return err
		}
	}
	// launchd refuses plists that are group- or world-writable.
	if err := l.fs.writeFile(l.plistPath(), data, 0o644); err != nil {
		return err
	}
	l.cfg.log().Info("service: plist written", "file", l.plistPath())
	if _, err := l.launchctl(ctx, "enable", l.target()); err != nil {
		return err
	}
	_, err = l.launchctl(ctx, "bootstrap", "system", l.plistPath())
	return err
}

func (l *launchd) Uninstall(ctx context.Context) error {
	if l.loaded(ctx) {
		if _, err := l.launchctl(ctx, "bootout", l.target()); err != nil {
			return err
		}
	}
	return l.fs.remove(l.plistPath())
}

// Start loads the job, which RunAtLoad starts; a loaded job is kick-started.
func (l *launchd) Start(ctx context.Context) error {
	if l.loaded(ctx) {
		_, err := l.launchctl(ctx, "kickstart", l.target())
		return err
	}
	_, err := l.launchctl(ctx, "bootstrap", "system", l.plistPath())
	return err
}

// Stop unloads the job: with KeepAlive a killed daemon would come back. It
// stays installed and enabled, and starts again at the next boot.
func (l *launchd) Stop(ctx context.Context) error {
	if !l.loaded(ctx) {
		return nil
	}
	_, err := l.launchctl(ctx, "bootout", l.target())
	return err
}

func (l *launchd) Status(ctx context.Context) (Status, error) {
	if !l.fs.exists(l.plistPath()) {
		return NotInstalled, nil
	}
	out, err := l.run(ctx, "launchctl", "print", l.target())
	if err != nil {
		return Stopped, nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok && k == "state" {
			if v == "running" {
				return Running, nil
			}
			return Stopped, nil
		}
	}
	return Unknown, fmt.Errorf("service: launchctl print %s: no state line", l.target())
}
