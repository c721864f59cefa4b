package ifwatch

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// WatchInterfaces signals on the returned channel when an interface
// change may have moved the public address (see uplinkFilter for the
// rule: default routes, addresses of uplinks, public addresses, uplinks
// going up or down), so a router reacts at once instead of at the next
// poll. Manager.Run debounces the signals. It returns nil if netlink is
// unavailable; polling still works. The watch ends with ctx.
func Watch(ctx context.Context, log *slog.Logger, public func(netip.Addr) bool) <-chan struct{} {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w, err := openWatch(public)
	if err != nil {
		log.Info("ddns: no netlink; interface changes are noticed at the next poll", slog.String("err", err.Error()))
		return nil
	}
	ch := make(chan struct{}, 1)
	go w.run(ch, nil)
	go closeOnDone(ctx, w.f)
	return ch
}

// ifWatch is a netlink route socket and the state it has seen.
type ifWatch struct {
	f      *os.File
	filter *uplinkFilter
}

// openWatch subscribes to link, address and route changes, then reads
// the current links, addresses and routes, in the calling thread's
// network namespace. Subscribing first loses no change; one seen twice is
// no change the second time.
func openWatch(public func(netip.Addr) bool) (*ifWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("ddns: netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ddns: netlink bind: %w", err)
	}
	w := &ifWatch{f: os.NewFile(uintptr(fd), "netlink-route"), filter: newUplinkFilter(public)} // through the poller: Close interrupts Read
	for _, req := range []int{unix.RTM_GETLINK, unix.RTM_GETADDR, unix.RTM_GETROUTE} {
		rib, err := syscall.NetlinkRIB(req, unix.AF_UNSPEC)
		if err != nil {
			w.f.Close()
			return nil, fmt.Errorf("ddns: netlink dump: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(rib)
		if err != nil {
			w.f.Close()
			return nil, fmt.Errorf("ddns: netlink dump: %w", err)
		}
		for _, m := range msgs {
			if e, ok := decodeNetlink(m); ok {
				w.filter.apply(e)
			}
		}
	}
	return w, nil
}

func closeOnDone(ctx context.Context, f *os.File) {
	<-ctx.Done()
	f.Close()
}

// run reads notifications until the socket is closed, signalling ch
// (without blocking: one pending signal is enough) for relevant ones.
// seen, if set, is told every decoded event and its verdict (tests).
func (w *ifWatch) run(ch chan<- struct{}, seen func(e ifEvent, relevant bool)) {
	buf := make([]byte, 65536)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			e, ok := decodeNetlink(m)
			if !ok {
				continue
			}
			relevant := w.filter.apply(e)
			if seen != nil {
				seen(e, relevant)
			}
			if relevant {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}
}

// decodeNetlink turns a link, address or route message into an ifEvent.
func decodeNetlink(m syscall.NetlinkMessage) (ifEvent, bool) {
	ne := binary.NativeEndian
	t := m.Header.Type
	switch t {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return ifEvent{}, false
		}
		flags := ne.Uint32(m.Data[8:12])
		return ifEvent{kind: evLink, del: t == unix.RTM_DELLINK, index: int(int32(ne.Uint32(m.Data[4:8]))),
			up: flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0, loopback: flags&unix.IFF_LOOPBACK != 0}, true
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		if len(m.Data) < unix.SizeofIfAddrmsg {
			return ifEvent{}, false
		}
		e := ifEvent{kind: evAddr, del: t == unix.RTM_DELADDR, index: int(ne.Uint32(m.Data[4:8])), scopeGlobal: m.Data[3] == unix.RT_SCOPE_UNIVERSE}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return ifEvent{}, false
		}
		var local, address netip.Addr
		for _, a := range attrs {
			ip, ok := netip.AddrFromSlice(a.Value)
			if !ok {
				continue
			}
			switch a.Attr.Type {
			case unix.IFA_LOCAL:
				local = ip
			case unix.IFA_ADDRESS:
				address = ip
			}
		}
		// IPv4 point-to-point links put the peer in IFA_ADDRESS.
		e.addr = address
		if local.IsValid() {
			e.addr = local
		}
		return e, e.addr.IsValid()
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if len(m.Data) < unix.SizeofRtMsg {
			return ifEvent{}, false
		}
		family, dstLen, table, typ := m.Data[0], m.Data[1], uint32(m.Data[4]), m.Data[7]
		e := ifEvent{kind: evRoute, del: t == unix.RTM_DELROUTE, v6: family == unix.AF_INET6}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return ifEvent{}, false
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_TABLE:
				if len(a.Value) >= 4 {
					table = ne.Uint32(a.Value)
				}
			case unix.RTA_OIF:
				if len(a.Value) >= 4 {
					e.index = int(ne.Uint32(a.Value))
				}
			case unix.RTA_GATEWAY:
				e.gw, _ = netip.AddrFromSlice(a.Value)
			case unix.RTA_MULTIPATH:
				// struct rtnexthop {len u16; flags u8; hops u8; ifindex i32}:
				// the first hop's interface stands for the route.
				if len(a.Value) >= 8 && e.index == 0 {
					e.index = int(int32(ne.Uint32(a.Value[4:8])))
				}
			}
		}
		e.defaultRoute = dstLen == 0 && typ == unix.RTN_UNICAST && table == unix.RT_TABLE_MAIN && e.index > 0
		return e, true
	}
	return ifEvent{}, false
}
