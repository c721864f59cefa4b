package licmgr

import (
	"slices"
	"testing"
	"time"
)

func TestReconnectSupersede(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	live := []Held{
		{ID: 1, Device: "alice/laptop", Service: "cad", Port: 27001, HoldsSeats: true, LastFromDevice: ago(90 * time.Second)}, // left behind by a drop
		{ID: 2, Device: "alice/laptop", Service: "cad", Port: 27001, HoldsSeats: true, LastFromDevice: ago(2 * time.Second)},  // a second app, talking
		{ID: 3, Device: "alice/laptop", Service: "cad", Port: 27000, HoldsSeats: false, LastFromDevice: ago(5 * time.Minute)}, // an lmgrd lookup
		{ID: 4, Device: "alice/laptop", Service: "codemeter", Port: 22350, HoldsSeats: true, LastFromDevice: ago(time.Hour)},  // another service
		{ID: 5, Device: "bob/pc", Service: "cad", Port: 27001, HoldsSeats: true, LastFromDevice: ago(time.Hour)},              // another device
		{ID: 6, Device: "alice/laptop", Service: "cad", Port: 27001, HoldsSeats: true, LastFromDevice: ago(10 * time.Second)}, // exactly at the silence
	}
	cases := []struct {
		name     string
		rule     ReconnectRule
		newSeats bool
		want     []uint64
	}{
		{"default: silent ones go, the talking one stays", ReconnectRule{}, true, []uint64{1, 6}},
		{"a lookup supersedes nothing", ReconnectRule{}, false, nil},
		{"off", ReconnectRule{Off: true}, true, nil},
		{"longer silence", ReconnectRule{Silence: time.Minute}, true, []uint64{1}},
		{"strict: one seat connection per device", ReconnectRule{Silence: -1}, true, []uint64{1, 2, 6}},
	}
	for _, c := range cases {
		got := c.rule.Supersede(now, "alice/laptop", "cad", c.newSeats, live)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Supersede = %v, want %v", c.name, got, c.want)
		}
	}
}
