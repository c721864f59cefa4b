package bolt

import (
	"errors"
	"reflect"
	"testing"
)

// TestAuditCodec: records read back as written, and a damaged one is an
// error, never a half-filled row.
func TestAuditCodec(t *testing.T) {
	end := int64(-5)
	s := sessionRec{Key: "k", Start: 1 << 50, End: &end, User: "ü", Device: "", Service: "s", Proto: "tcp", Client: "c",
		Rule: "r", Reason: "why", BytesUp: 1 << 40, BytesDown: 7, EndReason: "done"}
	var s2 sessionRec
	if err := s2.decode(s.encode()); err != nil || !reflect.DeepEqual(s, s2) {
		t.Errorf("session %+v %v, want %+v", s2, err, s)
	}
	open := sessionRec{Key: "o"}
	var o2 sessionRec
	if err := o2.decode(open.encode()); err != nil || !reflect.DeepEqual(open, o2) {
		t.Errorf("open session %+v %v", o2, err)
	}
	d := denialRec{At: -1, User: "u", Device: "d", Service: "s", Proto: "p", Source: "src", Rule: "r", Reason: "x"}
	var d2 denialRec
	if err := d2.decode(d.encode()); err != nil || d2 != d {
		t.Errorf("denial %+v %v", d2, err)
	}
	e := eventRec{At: 3, Actor: "a", Action: "b", Detail: "c"}
	var e2 eventRec
	if err := e2.decode(e.encode()); err != nil || e2 != e {
		t.Errorf("event %+v %v", e2, err)
	}
	raw := s.encode()
	for _, bad := range [][]byte{nil, {2}, raw[:len(raw)-1], append(raw, 0)} {
		if err := new(sessionRec).decode(bad); !errors.Is(err, errCorrupt) {
			t.Errorf("decode %x: %v, want errCorrupt", bad, err)
		}
	}
}
