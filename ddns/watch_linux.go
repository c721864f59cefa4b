package ddns

import (
	"context"
	"log/slog"
	"syscall"

	"golang.org/x/sys/unix"
)

// WatchInterfaces signals on the returned channel whenever an interface
// address is added or removed (netlink RTMGRP_IPV4_IFADDR/IPV6_IFADDR), so
// a router that holds the public address reacts at once instead of at the
// next poll. It returns nil if netlink is unavailable; polling still works.
func WatchInterfaces(ctx context.Context, log *slog.Logger) <-chan struct{} {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		log.Info("ddns: no netlink; interface changes are noticed at the next poll", slog.String("err", err.Error()))
		return nil
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}); err != nil {
		unix.Close(fd)
		log.Info("ddns: netlink bind failed; interface changes are noticed at the next poll", slog.String("err", err.Error()))
		return nil
	}
	ch := make(chan struct{}, 1)
	go watchNetlink(ctx, fd, ch)
	go func() {
		<-ctx.Done()
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}()
	return ch
}

func watchNetlink(ctx context.Context, fd int, ch chan<- struct{}) {
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || ctx.Err() != nil {
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
