// Command auditprobe times the audit log of the store this binary is
// built with (SQLite by default, bbolt with licgate_store_bolt): it
// writes N sessions and denials over a year, then reads a day, a month
// and the whole year back.
//
//	go run ./store/internal/auditprobe -n 100000
//	go run -tags licgate_store_bolt ./store/internal/auditprobe -n 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/licgate/licgate/store"
	"github.com/licgate/licgate/store/local"
)

func main() {
	n := flag.Int("n", 100000, "sessions (and as many denials) to write")
	flag.Parse()
	dir, err := os.MkdirTemp("", "auditprobe-")
	if err != nil {
		panic(err)
	}
	if os.Getenv("AUDITPROBE_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("dir", dir)
	}
	ctx := context.Background()
	st, err := local.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	year := 365 * 24 * time.Hour
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := end.Add(-year)
	step := year / time.Duration(*n)
	t0 := time.Now()
	for i := 0; i < *n; i += 1000 {
		var recs []store.AuditRecord
		for j := i; j < i+1000 && j < *n; j++ {
			at := start.Add(time.Duration(j) * step)
			key := fmt.Sprint("s", j)
			recs = append(recs,
				store.AuditRecord{Kind: store.AuditStart, Key: key, At: at, User: "alice", Device: "laptop", Service: "codemeter", Proto: "tcp", Client: "10.44.0.2:40000", Rule: "rule 0", Reason: "allowed"},
				store.AuditRecord{Kind: store.AuditEnd, Key: key, At: at.Add(time.Hour), BytesUp: 1000, BytesDown: 2000, EndReason: "client closed"},
				store.AuditRecord{Kind: store.AuditDenial, At: at, User: "eve", Service: "codemeter", Proto: "tcp", Client: "10.44.0.9:1", Rule: "default", Reason: "no rule"})
		}
		if err := st.WriteAudit(ctx, recs); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%s: wrote %d sessions + %d denials in %v (batches of 1000)\n", local.FileName, *n, *n, time.Since(t0).Round(time.Millisecond))
	for _, r := range []struct {
		name string
		from time.Time
	}{{"day", end.Add(-24 * time.Hour)}, {"month", end.Add(-30 * 24 * time.Hour)}, {"year", start.Add(-time.Hour)}} {
		t0 := time.Now()
		ss, err := st.AuditSessions(ctx, r.from, end)
		if err != nil {
			panic(err)
		}
		d1 := time.Since(t0)
		t0 = time.Now()
		ds, err := st.AuditDenials(ctx, r.from, end, 1000)
		if err != nil {
			panic(err)
		}
		fmt.Printf("  %-5s sessions %6d in %8v; denials (limit 1000) %4d in %v\n", r.name, len(ss), d1.Round(time.Microsecond), len(ds), time.Since(t0).Round(time.Microsecond))
	}
	fi, _ := os.Stat(dir + "/" + local.FileName)
	fmt.Printf("  file %.1f MB\n", float64(fi.Size())/1e6)
}
