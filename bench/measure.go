package main

import (
	"io"
	"net"
	"sort"
	"time"
)

// pingPong sends n 64-byte requests, each answered by 256 bytes, and
// returns the round-trip times.
func pingPong(c net.Conn, n int) ([]time.Duration, error) {
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

// bulk sends total bytes one way and returns MB/s (10^6 bytes).
func bulk(c net.Conn, total int) (float64, error) {
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

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func median(xs []float64) float64 {
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

func medianDur(ds []time.Duration) time.Duration {
	fs := make([]float64, len(ds))
	for i, d := range ds {
		fs[i] = float64(d)
	}
	return time.Duration(median(fs))
}

// target is one way to reach the server.
type target struct {
	name string
	dial func() (net.Conn, error)
}

// result accumulates one target's rounds.
type result struct {
	p50, p99 []time.Duration
	mbps     []float64
}

// alternate measures every target in turn, rounds times, so that drift on
// a shared machine hits all of them alike; it reports medians of rounds.
func alternate(targets []target, rounds, pings, bulkBytes int) (map[string]*result, error) {
	res := map[string]*result{}
	for _, t := range targets {
		res[t.name] = &result{}
	}
	for r := 0; r < rounds; r++ {
		for _, t := range targets {
			c, err := t.dial()
			if err != nil {
				return nil, err
			}
			rtts, err := pingPong(c, pings)
			c.Close()
			if err != nil {
				return nil, err
			}
			res[t.name].p50 = append(res[t.name].p50, percentile(rtts, 0.5))
			res[t.name].p99 = append(res[t.name].p99, percentile(rtts, 0.99))
			if bulkBytes > 0 {
				c, err := t.dial()
				if err != nil {
					return nil, err
				}
				mb, err := bulk(c, bulkBytes)
				c.Close()
				if err != nil {
					return nil, err
				}
				res[t.name].mbps = append(res[t.name].mbps, mb)
			}
		}
	}
	return res, nil
}

// p50Ratio is the median over rounds of a's p50 / b's p50 in the same round.
func p50Ratio(a, b *result) float64 { return durRatio(a.p50, b.p50) }

// p99Ratio is p50Ratio for the 99th percentile.
func p99Ratio(a, b *result) float64 { return durRatio(a.p99, b.p99) }

func durRatio(a, b []time.Duration) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, float64(a[i])/float64(b[i]))
		}
	}
	return median(rs)
}

// bulkRatio is the median over rounds of a's MB/s / b's MB/s.
func bulkRatio(a, b *result) float64 {
	var rs []float64
	for i := range min(len(a.mbps), len(b.mbps)) {
		if b.mbps[i] > 0 {
			rs = append(rs, a.mbps[i]/b.mbps[i])
		}
	}
	return median(rs)
}
