package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/licgate/licgate/gateway/gatewaytest"
)

// licgate report --by product against a running gateway: two devices
// hold the service's whole pool of 2 at once, then let go; the report
// shows seats 2, peak 2, some time at the limit, none never used; JSON
// and CSV carry the same.
func TestReportByProductAgainstDaemon(t *testing.T) {
	gatewaytest.CheckLeaks(t)
	h := gatewaytest.New(t, gatewaytest.Policy("policy:\n  services:\n    codemeter: {max_sessions: 2}\n  rules:\n    - {action: allow, who: [\"*\"]}\n"))
	sock := "-socket=" + h.Config.Socket
	a := h.AddDevice("alice", "laptop").TakeSeat(t)
	b := h.AddDevice("bob", "desk").TakeSeat(t)
	if !h.WaitSessions(2, 5e9) {
		t.Fatal("two seats not held")
	}
	a.Close()
	b.Close()
	h.WaitSessions(0, 5e9)
	h.GW.SyncAudit()

	out, code := cli(t, "report", "--from", "1d", "--by", "product", sock)
	if code != 0 {
		t.Fatalf("report: %d %s", code, out)
	}
	var line []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "codemeter" {
			line = f
		}
	}
	// PRODUCT SEATS PEAK AT-LIMIT NEVER-USED SEAT-HOURS SESSIONS USERS
	if len(line) != 8 || line[1] != "2" || line[2] != "2" || line[4] != "0" || line[6] != "2" || line[7] != "2" {
		t.Fatalf("report by product:\n%s", out)
	}
	out, code = cli(t, "report", "--from", "1d", "--by", "product", "--format", "json", sock)
	var rep struct {
		By       string `json:"by"`
		Products struct {
			Rows []struct {
				Product      string    `json:"product"`
				Seats        int       `json:"seats"`
				Peak         int       `json:"peak"`
				AtLimitHours float64   `json:"at_limit_hours"`
				LevelHours   []float64 `json:"level_hours"`
			} `json:"rows"`
		} `json:"products"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.By != "product" || len(rep.Products.Rows) != 1 {
		t.Fatalf("json: %d %s", code, out)
	}
	// The seats were held for milliseconds: time at the limit is there in
	// level_hours, and at_limit_hours is it rounded to 3.6 s.
	if r := rep.Products.Rows[0]; r.Seats != 2 || r.Peak != 2 || len(r.LevelHours) != 3 || r.LevelHours[2] <= 0 || r.AtLimitHours > r.LevelHours[2]+0.001 {
		t.Fatalf("json row %+v", r)
	}
	out, code = cli(t, "report", "--from", "1d", "--by", "product", "--format", "csv", sock)
	if code != 0 || !strings.HasPrefix(out, "product,seats,peak,at_limit_hours,never_used,seat_hours,sessions,users\ncodemeter,2,2,") {
		t.Fatalf("csv: %d %s", code, out)
	}
}
