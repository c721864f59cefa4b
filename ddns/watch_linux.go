package ddns

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// WatchInterfaces signals on the returned channel whenever an interface
// address is added or removed (netlink RTMGRP_IPV4_IFADDR/IPV6_IFADDR), so
// a router that holds the public address reacts at once instead of at the
// next poll. It returns nil if netlink is unavailable; polling still works.
// The watch ends with ctx.
func WatchInterfaces(ctx context.Context, log *slog.Logger) <-chan struct{} {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		log.Info("ddns: no netlink; interface changes are noticed at the next poll", slog.String("err", err.Error()))
		return nil
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}); err != nil {
		unix.Close(fd)
		log.Info("ddns: netlink bind failed; interface changes are noticed at the next poll", slog.String("err", err.Error()))
		return nil
	}
	// Through the runtime poller, so Close interrupts a pending read.
	f := os.NewFile(uintptr(fd), "netlink-route")
	ch := make(chan struct{}, 1)
	go watchNetlink(f, ch)
	go closeOnDone(ctx, f)
	return ch
}

func closeOnDone(ctx context.Context, f *os.File) {
	<-ctx.Done()
	f.Close()
}

func watchNetlink(f *os.File, ch chan<- struct{}) {
	buf := make([]byte, 8192)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type == unix.RTM_NEWADDR || m.Header.Type == unix.RTM_DELADDR {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}
}
