package licmgr

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var ref = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func parseFile(t *testing.T, path string) *Usage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u *Usage
	if strings.Contains(path, "rlmstat") {
		u, err = ParseRlmstat(f, ref)
	} else {
		u, err = ParseLmstat(f, ref)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

// Every recorded output: as many features as "Users of" / pool lines, as
// many holders as checkout lines, nothing invented.
func TestParseRecordedCounts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*stat/*.txt")
	if len(files) < 10 {
		t.Fatalf("%d recorded outputs", len(files))
	}
	for _, path := range files {
		data, _ := os.ReadFile(path)
		u := parseFile(t, path)
		wantHolders, wantFeatures := 0, 0
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.Contains(path, "rlmstat") && strings.Contains(line, "(handle: "):
				wantHolders++
			case strings.Contains(path, "rlmstat") && strings.Contains(line, "count: "):
				wantFeatures++
			case !strings.Contains(path, "rlmstat") && strings.Contains(line, "), start "):
				wantHolders++
			case strings.HasPrefix(line, "Users of "):
				wantFeatures++
			}
		}
		got := 0
		for _, f := range u.Features {
			got += len(f.Holders)
		}
		if got != wantHolders || len(u.Features) != wantFeatures {
			t.Errorf("%s: %d features %d holders, want %d and %d", path, len(u.Features), got, wantFeatures, wantHolders)
		}
	}
}

func TestParseLmstat(t *testing.T) {
	u := parseFile(t, "testdata/lmstat/license-manager-flexlm_output_4.txt")
	f, ok := u.Feature("MSCONE")
	if !ok || f.Total != 750 || f.InUse != 18 || f.Held() != 18 || len(f.Holders) != 6 {
		t.Fatalf("MSCONE = %+v", f)
	}
	h := f.Holders[0]
	want := Holder{User: "ABCDKK", Host: "ER0037", Display: "SESOR045", Count: 5, Handle: "2639", Server: "myserver.example.com/29065",
		Start: time.Date(2026, 3, 8, 13, 25, 0, 0, time.UTC)}
	if h != want {
		t.Errorf("holder\n got %+v\nwant %+v", h, want)
	}

	u = parseFile(t, "testdata/lmstat/license-manager-flexlm_output_3.txt")
	f, _ = u.Feature("ccmppower")
	if f.Total != 40 || f.InUse != 3 || f.Held() != 3 || f.Vendor != "abc" || f.Version != "v2025.09" {
		t.Errorf("ccmppower = %+v", f)
	}

	u = parseFile(t, "testdata/lmstat/flexlm_exporter-lmstat_app2.txt")
	if len(u.Daemons) != 1 || u.Daemons[0] != (DaemonStatus{Name: "vendor1", Up: true, Version: "v11.13"}) {
		t.Errorf("daemons %+v", u.Daemons)
	}
	for _, f := range u.Features {
		if f.Held() != f.InUse {
			t.Errorf("app2 %s: %d held, %d in use", f.Name, f.Held(), f.InUse)
		}
	}
	if f, _ := u.Feature("feature2"); f.InUse != 22 || f.Holders[21].User != "user13" || !f.Holders[21].Start.Equal(time.Date(2026, 10, 17, 14, 59, 0, 0, time.UTC)) {
		t.Errorf("feature2 = %+v", f)
	}

	// COMSOL: uncounted features, ports redacted to "port".
	u = parseFile(t, "testdata/lmstat/flexlm_exporter-lmstat_app4.txt")
	if f, _ := u.Feature("SERIAL"); f.Total != -1 || f.InUse != 1 || f.Holders[0].Server != "licensevm.domain.example/port" {
		t.Errorf("SERIAL = %+v", f)
	}
	if f, _ := u.Feature("ACDC"); f.Total != 2 || f.InUse != 1 || f.Holders[0].User != "matlab" || f.Vendor != "LMCOMSOL" {
		t.Errorf("ACDC = %+v", f)
	}

	// RESERVATIONs count as in use.
	u = parseFile(t, "testdata/lmstat/flexlm_exporter-lmstat_app1.txt")
	if f, _ := u.Feature("feature52"); f.InUse != 169 || f.Reserved != 169 || f.Held() != 0 {
		t.Errorf("feature52 = %+v", f)
	}

	u = parseFile(t, "testdata/lmstat/flexlm_exporter-lmstat_server_up_win.txt")
	if len(u.Features) != 0 || len(u.Daemons) != 1 || u.Daemons[0].Name != "ptc_d" || !u.Daemons[0].Up {
		t.Errorf("windows status = %+v", u)
	}
}

// Error outputs are errors, not empty usage (the omnivector fixtures'
// "bad" outputs).
func TestParseStatusErrors(t *testing.T) {
	lm := "lmstat - Copyright (c) 1989-2004 by Macrovision Corporation. All rights reserved.\nFlexible License Manager status on Wed 03/31/2021 09:12\n\nError getting status: Cannot connect to license server (-15,570:111 \"Connection refused\")\n"
	if _, err := ParseLmstat(strings.NewReader(lm), ref); !errors.Is(err, ErrStatus) || !strings.Contains(err.Error(), "Cannot connect") {
		t.Errorf("lmstat error: %v", err)
	}
	rlm := "rlmutil v12.2\nCopyright (C) 2006-2017, Reprise Software, Inc. All rights reserved.\n\n\nError connecting to \"rlm\" server\n\nConnection attempted to host: \"\" on port 5053\n\nNo error\n"
	if _, err := ParseRlmstat(strings.NewReader(rlm), ref); !errors.Is(err, ErrStatus) {
		t.Errorf("rlmstat error: %v", err)
	}
	if _, err := ParseLmstat(strings.NewReader("hello"), ref); !errors.Is(err, ErrStatus) {
		t.Errorf("garbage: %v", err)
	}
}

func TestParseRlmstat(t *testing.T) {
	u := parseFile(t, "testdata/rlmstat/license-manager-rlm_output.txt")
	if len(u.Daemons) != 1 || u.Daemons[0] != (DaemonStatus{Name: "csci", Port: 63133, Up: true}) {
		t.Errorf("ISV servers %+v", u.Daemons)
	}
	f, _ := u.Feature("converge_super")
	if f.Total != 1000 || f.InUse != 93 || f.Held() != 93 || len(f.Holders) != 3 || f.Vendor != "csci" || f.Version != "3.0" {
		t.Fatalf("converge_super = %+v", f)
	}
	want := Holder{User: "asdj13", Host: "myserver.example.com", Count: 29, Handle: "15a", Start: time.Date(2026, 11, 1, 9, 1, 0, 0, time.UTC)}
	if f.Holders[0] != want {
		t.Errorf("holder\n got %+v\nwant %+v", f.Holders[0], want)
	}

	u = parseFile(t, "testdata/rlmstat/license-manager-another_rlm_output.txt")
	if f, _ := u.Feature("powercase"); f.Total != 5 || f.InUse != 3 || len(f.Holders) != 3 || f.Holders[2].User != "wrtgb3" || f.Holders[2].Host != "server3" {
		t.Errorf("powercase = %+v", f)
	}
	if f, _ := u.Feature("powertherm-mp"); f.Vendor != "tainc" || f.Total != 3 {
		t.Errorf("powertherm-mp = %+v", f)
	}

	u = parseFile(t, "testdata/rlmstat/license-manager-rlm_output_no_licenses.txt")
	for _, f := range u.Features {
		if f.InUse != 0 || len(f.Holders) != 0 {
			t.Errorf("%s in use %d", f.Name, f.InUse)
		}
	}
}

func TestRefusalText(t *testing.T) {
	now := ref
	hs := []Seat{{"bob", now.Add(-20 * time.Minute)}, {"alice", now.Add(-2*time.Hour - 5*time.Minute)}, {"carol", now.Add(-30 * time.Second)}}
	if got, want := RefusalText(3, 3, hs, now, 0), "3 of 3 in use: alice 2 h, bob 20 min, carol 30 s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := RefusalText(3, 3, hs, now, 2), "3 of 3 in use: alice 2 h, bob 20 min, and 1 more"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := RefusalText(10, 10, nil, now, 0), "10 of 10 in use"; got != want {
		t.Errorf("got %q", got)
	}
	if Ago(72*time.Hour) != "3 d" {
		t.Error(Ago(72 * time.Hour))
	}
}
