package portmap

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// defaultGateway returns the IPv4 gateway of the default route. Only Linux
// is supported (from /proc/net/route); elsewhere set Config.Gateway.
func defaultGateway() (netip.Addr, error) {
	if runtime.GOOS != "linux" {
		return netip.Addr{}, fmt.Errorf("%w: on %s set portmap.gateway to the router's LAN address", ErrNoGateway, runtime.GOOS)
	}
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrNoGateway, err)
	}
	defer f.Close()
	return parseProcRoute(f)
}

// parseProcRoute picks the default route with the lowest metric from
// /proc/net/route (addresses are hex in host byte order, little-endian on
// every platform Go runs licgate on).
func parseProcRoute(r io.Reader) (netip.Addr, error) {
	const rtfUp, rtfGateway = 0x1, 0x2
	var best netip.Addr
	bestMetric := -1
	sc := bufio.NewScanner(r)
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 8 {
			continue
		}
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		metric, err2 := strconv.Atoi(f[6])
		if err1 != nil || err2 != nil || f[1] != "00000000" || f[7] != "00000000" || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], binary.BigEndian.Uint32(b))
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = netip.AddrFrom4(a), metric
		}
	}
	if err := sc.Err(); err != nil {
		return netip.Addr{}, fmt.Errorf("%w: /proc/net/route: %v", ErrNoGateway, err)
	}
	if !best.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: no IPv4 default route (set portmap.gateway)", ErrNoGateway)
	}
	return best, nil
}
