// Package service owns how licgate runs as an operating-system service: where
// its files live on each platform (Paths), and installing, removing, starting,
// stopping and querying it through the platform's service manager, behind one
// Manager interface:
//
//   - Linux: a systemd unit in /etc/systemd/system, `systemctl enable --now`.
//     Without systemd (OpenWrt's procd, a container) New fails with
//     ErrNoServiceManager; OpenWrt uses the .ipk's procd script instead.
//   - macOS: a launchd daemon, /Library/LaunchDaemons/<label>.plist,
//     `launchctl bootstrap system` / `launchctl bootout`.
//   - FreeBSD: an rc.d script in /usr/local/etc/rc.d run through daemon(8).
//   - Windows: a service registered with the Service Control Manager, restarted
//     on failure, logging to the Event Log; RunWindows runs `licgate serve`
//     under the SCM. The state directory %ProgramData%\licgate gets an ACL that
//     admits only SYSTEM and Administrators.
//
// The files the managers write (systemd unit, launchd plist, rc.d script) are
// produced by OS-independent generators, so they are tested on any machine and
// tools/dist uses the same generator for the .deb and .rpm. Only the calls into
// the service manager are platform code.
//
// Typical usage, from `licgate service install`:
//
//	m, err := service.New(service.Config{Log: log})
//	if err != nil {
//		return err // e.g. ErrNoServiceManager on a Linux without systemd
//	}
//	if err := m.Install(ctx); err != nil {
//		return err
//	}
//	st, _ := m.Status(ctx) // service.Running
//
// and from `licgate serve`, which the Windows SCM starts:
//
//	if service.UnderServiceManager() {
//		return service.RunWindows("licgate", serve) // serve(ctx) returns when ctx ends
//	}
package service
