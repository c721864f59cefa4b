package bolt

import (
	"encoding/binary"
	"errors"
)

// The audit records' binary form: a format byte (1), then the fields in
// declaration order: integers as varints, optional integers as a 0/1
// byte and a varint, strings as a uvarint length and the bytes. About
// half the size of JSON, and faster to read for long reports.

const auditFormat = 1

var errCorrupt = errors.New("store: corrupt audit record")

type enc []byte

func (e *enc) i(v int64) { *e = binary.AppendVarint(*e, v) }

func (e *enc) s(v string) {
	*e = binary.AppendUvarint(*e, uint64(len(v)))
	*e = append(*e, v...)
}

func (e *enc) p(v *int64) {
	if v == nil {
		*e = append(*e, 0)
		return
	}
	*e = append(*e, 1)
	e.i(*v)
}

type dec struct {
	b   []byte
	bad bool
}

func newDec(b []byte) *dec {
	if len(b) == 0 || b[0] != auditFormat {
		return &dec{bad: true}
	}
	return &dec{b: b[1:]}
}

func (d *dec) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) s() string {
	l, n := binary.Uvarint(d.b)
	if n <= 0 || l > uint64(len(d.b)-n) {
		d.bad = true
		return ""
	}
	v := string(d.b[n : n+int(l)])
	d.b = d.b[n+int(l):]
	return v
}

func (d *dec) p() *int64 {
	if len(d.b) == 0 {
		d.bad = true
		return nil
	}
	f := d.b[0]
	d.b = d.b[1:]
	if f == 0 {
		return nil
	}
	v := d.i()
	return &v
}

func (d *dec) err() error {
	if d.bad || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

func (r sessionRec) encode() []byte {
	e := enc{auditFormat}
	e.s(r.Key)
	e.i(r.Start)
	e.p(r.End)
	for _, v := range []string{r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason} {
		e.s(v)
	}
	e.i(r.BytesUp)
	e.i(r.BytesDown)
	e.s(r.EndReason)
	return e
}

func (r *sessionRec) decode(b []byte) error {
	d := newDec(b)
	r.Key, r.Start, r.End = d.s(), d.i(), d.p()
	r.User, r.Device, r.Service, r.Proto, r.Client, r.Rule, r.Reason = d.s(), d.s(), d.s(), d.s(), d.s(), d.s(), d.s()
	r.BytesUp, r.BytesDown, r.EndReason = d.i(), d.i(), d.s()
	return d.err()
}

func (r denialRec) encode() []byte {
	e := enc{auditFormat}
	e.i(r.At)
	for _, v := range []string{r.User, r.Device, r.Service, r.Proto, r.Source, r.Rule, r.Reason} {
		e.s(v)
	}
	return e
}

func (r *denialRec) decode(b []byte) error {
	d := newDec(b)
	r.At = d.i()
	r.User, r.Device, r.Service, r.Proto, r.Source, r.Rule, r.Reason = d.s(), d.s(), d.s(), d.s(), d.s(), d.s(), d.s()
	return d.err()
}

func (r eventRec) encode() []byte {
	e := enc{auditFormat}
	e.i(r.At)
	e.s(r.Actor)
	e.s(r.Action)
	e.s(r.Detail)
	return e
}

func (r *eventRec) decode(b []byte) error {
	d := newDec(b)
	r.At = d.i()
	r.Actor, r.Action, r.Detail = d.s(), d.s(), d.s()
	return d.err()
}
