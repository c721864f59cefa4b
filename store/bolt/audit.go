package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/licgate/licgate/store"
)

// The audit log in bbolt. Sessions, denials and events are keyed by
// tkey(time) and a per-bucket sequence id, so a time range is a cursor
// range and ties break by id, as in SQLite. Sessions have three indexes:
// by key (to end them), by end time (overlap queries and pruning read
// only what ended at or after from) and the set of open ones.

// WriteAudit writes records in one transaction, in order.
func (s *Store) WriteAudit(ctx context.Context, recs []store.AuditRecord) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		for _, r := range recs {
			var err error
			switch r.Kind {
			case store.AuditStart:
				err = startSession(tx, r)
			case store.AuditEnd:
				err = endSession(tx, r.Key, r.At.UnixMicro(), func(sr *sessionRec) {
					sr.BytesUp, sr.BytesDown, sr.EndReason = r.BytesUp, r.BytesDown, r.EndReason
				})
			case store.AuditDenial:
				err = putRow(tx.Bucket(bDenials), r.At.UnixMicro(), denialRec{At: r.At.UnixMicro(), User: r.User, Device: r.Device,
					Service: r.Service, Proto: r.Proto, Source: r.Client, Rule: r.Rule, Reason: r.Reason})
			case store.AuditEvent:
				err = putRow(tx.Bucket(bEvents), r.At.UnixMicro(), eventRec{At: r.At.UnixMicro(), Actor: r.Actor, Action: r.Action, Detail: r.Reason})
			default:
				err = fmt.Errorf("%w: audit kind %d", store.ErrInvalid, r.Kind)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: write audit: %w", err)
	}
	return nil
}

// putRow appends v at time at (Unix µs) with the bucket's next id.
func putRow(b *bbolt.Bucket, at int64, v any) error {
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	return put(b, rowKey(at, id), v)
}

func startSession(tx *bbolt.Tx, r store.AuditRecord) error {
	return insertSession(tx, sessionRec{Key: r.Key, Start: r.At.UnixMicro(), User: r.User, Device: r.Device, Service: r.Service,
		Proto: r.Proto, Client: r.Client, Rule: r.Rule, Reason: r.Reason}, 0)
}

// insertSession writes a session and its indexes; id 0 takes the next.
func insertSession(tx *bbolt.Tx, sr sessionRec, id uint64) error {
	byKey := tx.Bucket(bSessKey)
	if byKey.Get(sk(sr.Key)) != nil {
		return fmt.Errorf("%w: audit session %q", store.ErrExists, sr.Key)
	}
	b := tx.Bucket(bSessions)
	if id == 0 {
		var err error
		if id, err = b.NextSequence(); err != nil {
			return err
		}
	} else if id > b.Sequence() {
		if err := b.SetSequence(id); err != nil {
			return err
		}
	}
	k := rowKey(sr.Start, id)
	if err := put(b, k, sr); err != nil {
		return err
	}
	if err := byKey.Put(sk(sr.Key), k); err != nil {
		return err
	}
	if sr.End != nil {
		return tx.Bucket(bSessEnd).Put(rowKey(*sr.End, id), k)
	}
	return tx.Bucket(bSessOpen).Put(k, nil)
}

// endSession sets the end of session key (at, Unix µs) and lets fn fill
// in the rest; an unknown key changes nothing. Ending an ended session
// again moves its end, as SQLite's UPDATE does.
func endSession(tx *bbolt.Tx, key string, at int64, fn func(*sessionRec)) error {
	k := tx.Bucket(bSessKey).Get(sk(key))
	if k == nil {
		return nil
	}
	k = bytes.Clone(k)
	return setEnd(tx, k, func(sr *sessionRec) int64 { fn(sr); return at })
}

// setEnd rewrites the session at k with the end end returns, and keeps
// the end and open indexes in step.
func setEnd(tx *bbolt.Tx, k []byte, end func(*sessionRec) int64) error {
	b := tx.Bucket(bSessions)
	sr, ok, err := get[sessionRec](b, k)
	if err != nil || !ok {
		return err
	}
	id := binary.BigEndian.Uint64(k[8:])
	if sr.End != nil {
		if err := tx.Bucket(bSessEnd).Delete(rowKey(*sr.End, id)); err != nil {
			return err
		}
	} else if err := tx.Bucket(bSessOpen).Delete(k); err != nil {
		return err
	}
	e := end(&sr)
	sr.End = &e
	if err := put(b, k, sr); err != nil {
		return err
	}
	return tx.Bucket(bSessEnd).Put(rowKey(e, id), k)
}

// CloseOpenSessions ends sessions left open by a crash whose key starts
// with keyPrefix, at the given time (never before a session's start).
func (s *Store) CloseOpenSessions(ctx context.Context, keyPrefix string, at time.Time, reason string) (int64, error) {
	var n int64
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var open [][]byte
		if err := tx.Bucket(bSessOpen).ForEach(func(k, _ []byte) error {
			sr, ok, err := get[sessionRec](tx.Bucket(bSessions), k)
			if err == nil && ok && strings.HasPrefix(sr.Key, keyPrefix) {
				open = append(open, bytes.Clone(k))
			}
			return err
		}); err != nil {
			return err
		}
		for _, k := range open {
			err := setEnd(tx, k, func(sr *sessionRec) int64 {
				sr.EndReason = reason
				return max(sr.Start, at.UnixMicro())
			})
			if err != nil {
				return err
			}
		}
		n = int64(len(open))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: close open sessions: %w", err)
	}
	return n, nil
}

func (sr sessionRec) session() store.AuditSession {
	return store.AuditSession{Key: sr.Key, Start: time.UnixMicro(sr.Start), End: usTimep(sr.End), User: sr.User, Device: sr.Device,
		Service: sr.Service, Proto: sr.Proto, Client: sr.Client, Rule: sr.Rule, Reason: sr.Reason,
		BytesUp: sr.BytesUp, BytesDown: sr.BytesDown, EndReason: sr.EndReason}
}

// AuditSessions returns sessions that overlap [from, to), oldest first:
// the open ones that started before to, and those that ended at or after
// from (the end index) and started before to.
func (s *Store) AuditSessions(ctx context.Context, from, to time.Time) ([]store.AuditSession, error) {
	f, t := from.UnixMicro(), to.UnixMicro()
	out := []store.AuditSession{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var keys [][]byte
		oc := tx.Bucket(bSessOpen).Cursor()
		for k, _ := oc.First(); k != nil && tval(k) < t; k, _ = oc.Next() {
			keys = append(keys, k)
		}
		ec := tx.Bucket(bSessEnd).Cursor()
		for k, v := ec.Seek(tkey(f)); k != nil; k, v = ec.Next() {
			if tval(v) < t {
				keys = append(keys, v)
			}
		}
		slices.SortFunc(keys, bytes.Compare)
		b := tx.Bucket(bSessions)
		for _, k := range keys {
			sr, ok, err := get[sessionRec](b, k)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, sr.session())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit sessions: %w", err)
	}
	return out, nil
}

// newest reads up to limit rows of bucket b with times in [from, to),
// newest first (ties: higher id first). A negative limit is no limit,
// as SQLite's LIMIT -1.
func newest[R any, T any](tx *bbolt.Tx, b []byte, from, to int64, limit int, conv func(R) T) ([]T, error) {
	out := []T{}
	if limit == 0 {
		return out, nil
	}
	c := tx.Bucket(b).Cursor()
	k, v := c.Seek(tkey(to))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && tval(k) >= from && (limit < 0 || len(out) < limit); k, v = c.Prev() {
		var r R
		if err := decode(v, &r); err != nil {
			return nil, err
		}
		out = append(out, conv(r))
	}
	return out, nil
}

func (r denialRec) row() store.AuditDenialRow {
	return store.AuditDenialRow{At: time.UnixMicro(r.At), User: r.User, Device: r.Device, Service: r.Service, Proto: r.Proto,
		Source: r.Source, Rule: r.Rule, Reason: r.Reason}
}

func (r eventRec) row() store.AuditEventRow {
	return store.AuditEventRow{At: time.UnixMicro(r.At), Actor: r.Actor, Action: r.Action, Detail: r.Detail}
}

// AuditDenials returns refusals in [from, to), newest first, at most limit.
func (s *Store) AuditDenials(ctx context.Context, from, to time.Time, limit int) ([]store.AuditDenialRow, error) {
	var out []store.AuditDenialRow
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = newest(tx, bDenials, from.UnixMicro(), to.UnixMicro(), limit, denialRec.row)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit denials: %w", err)
	}
	return out, nil
}

// AuditEvents returns admin events in [from, to), newest first, at most limit.
func (s *Store) AuditEvents(ctx context.Context, from, to time.Time, limit int) ([]store.AuditEventRow, error) {
	var out []store.AuditEventRow
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = newest(tx, bEvents, from.UnixMicro(), to.UnixMicro(), limit, eventRec.row)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit events: %w", err)
	}
	return out, nil
}

// PruneAudit deletes sessions that ended, and denials and events that
// happened, before before; open sessions stay.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	b := before.UnixMicro()
	var total int64
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		// Ended sessions, through the end index.
		ends := tx.Bucket(bSessEnd)
		var endKeys, rowKeys [][]byte
		c := ends.Cursor()
		for k, v := c.First(); k != nil && tval(k) < b; k, v = c.Next() {
			endKeys, rowKeys = append(endKeys, bytes.Clone(k)), append(rowKeys, bytes.Clone(v))
		}
		sessions, byKey := tx.Bucket(bSessions), tx.Bucket(bSessKey)
		for i, k := range rowKeys {
			sr, ok, err := get[sessionRec](sessions, k)
			if err != nil {
				return err
			}
			if ok {
				if err := byKey.Delete(sk(sr.Key)); err != nil {
					return err
				}
			}
			if err := sessions.Delete(k); err != nil {
				return err
			}
			if err := ends.Delete(endKeys[i]); err != nil {
				return err
			}
		}
		total += int64(len(rowKeys))
		for _, name := range [][]byte{bDenials, bEvents} {
			bk := tx.Bucket(name)
			var old [][]byte
			c := bk.Cursor()
			for k, _ := c.First(); k != nil && tval(k) < b; k, _ = c.Next() {
				old = append(old, bytes.Clone(k))
			}
			for _, k := range old {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			total += int64(len(old))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune audit: %w", err)
	}
	return total, nil
}
