package benchkit

import (
	"io"
	"net"
	"sort"
	"time"
)

// PingPong sends n 64-byte requests, each answered by 256 bytes, and
// returns the round-trip times.
func PingPong(c net.Conn, n int) ([]time.Duration, error) {
	if _, err := c.Write([]byte{'P'}); err != nil {
		return nil, err
	}
	req := make([]byte, 64)
	resp := make([]byte, 256)
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// Bulk sends total bytes one way and returns MB/s (10^6 bytes).
func Bulk(c net.Conn, total int) (float64, error) {
	if _, err := c.Write([]byte{'B'}); err != nil {
		return 0, err
	}
	chunk := make([]byte, 256<<10)
	start := time.Now()
	for sent := 0; sent < total; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return 0, err
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}

// Percentile is the p-th quantile (0 to 1) of ds, 0 if ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// Median is the median of xs, 0 if xs is empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianDur is Median for durations.
func MedianDur(ds []time.Duration) time.Duration {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = float64(d)
	}
	return time.Duration(Median(fs))
}

// Target is one way to reach the server.
type Target struct {
	Name string
	Dial func() (net.Conn, error)
}

// Result accumulates one target's rounds: one entry per round.
type Result struct {
	P50  []time.Duration // median round trip
	P99  []time.Duration // 99th percentile round trip
	MBps []float64       // bulk, if measured
}

// Alternate measures every target in turn, rounds times, so that drift on
// a shared machine hits all of them alike; it reports medians of rounds.
func Alternate(targets []Target, rounds, pings, bulkBytes int) (map[string]*Result, error) {
	res := map[string]*Result{}
	for _, t := range targets {
		res[t.Name] = &Result{}
	}
	for r := 0; r < rounds; r++ {
		for _, t := range targets {
			c, err := t.Dial()
			if err != nil {
				return nil, err
			}
			rtts, err := PingPong(c, pings)
			c.Close()
			if err != nil {
				return nil, err
			}
			res[t.Name].P50 = append(res[t.Name].P50, Percentile(rtts, 0.5))
			res[t.Name].P99 = append(res[t.Name].P99, Percentile(rtts, 0.99))
			if bulkBytes > 0 {
				c, err := t.Dial()
				if err != nil {
					return nil, err
				}
				mb, err := Bulk(c, bulkBytes)
				c.Close()
				if err != nil {
					return nil, err
				}
				res[t.Name].MBps = append(res[t.Name].MBps, mb)
			}
		}
	}
	return res, nil
}

// P50Ratio is the median over rounds of a's p50 / b's p50 in the same round.
func P50Ratio(a, b *Result) float64 { return durRatio(a.P50, b.P50) }

// P99Ratio is P50Ratio for the 99th percentile.
func P99Ratio(a, b *Result) float64 { return durRatio(a.P99, b.P99) }

func durRatio(a, b []time.Duration) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, float64(a[i])/float64(b[i]))
		}
	}
	return Median(rs)
}

// BulkRatio is the median over rounds of a's MB/s / b's MB/s.
func BulkRatio(a, b *Result) float64 {
	var rs []float64
	for i := range min(len(a.MBps), len(b.MBps)) {
		if b.MBps[i] > 0 {
			rs = append(rs, a.MBps[i]/b.MBps[i])
		}
	}
	return Median(rs)
}
