package licmgr

import (
	"errors"
	"testing"
	"time"
)

// reconnect_silence resolves to the service's reconnect rule: empty is
// the default (10s), "off" turns it off, a duration sets the silence,
// anything else names the key.
func TestReconnectSilenceSetting(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ReconnectRule
		bad  bool
	}{
		{"", ReconnectRule{}, false},
		{"off", ReconnectRule{Off: true}, false},
		{"30s", ReconnectRule{Silence: 30 * time.Second}, false},
		{"0s", ReconnectRule{}, true},
		{"soon", ReconnectRule{}, true},
	} {
		s := Settings{Type: "codemeter", ReconnectSilence: tc.in}
		_, _, _, err := s.Resolve(0, nil, "")
		var se *SettingError
		switch {
		case tc.bad && (!errors.As(err, &se) || se.Key != "reconnect_silence"):
			t.Errorf("%q: error %v, want one on reconnect_silence", tc.in, err)
		case !tc.bad && (err != nil || s.Reconnect != tc.want):
			t.Errorf("%q: rule %+v, err %v; want %+v", tc.in, s.Reconnect, err, tc.want)
		}
	}
}
