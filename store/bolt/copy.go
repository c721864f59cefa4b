package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/licgate/licgate/store"
)

// Export reads every row of the bbolt database in one read transaction,
// in id order as the SQLite export, so Copy moves a router's state to
// PostgreSQL (or back) unchanged.
func (s *Store) Export(ctx context.Context) (*store.Snapshot, error) {
	snap := &store.Snapshot{Counters: map[string]int64{}}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		each := func(b []byte, fn func(k, v []byte) error) error { return tx.Bucket(b).ForEach(fn) }
		err := each(bUsers, func(k, v []byte) error {
			var r userRec
			err := decode(v, &r)
			snap.Users = append(snap.Users, r.user(string(k)))
			return err
		})
		if err != nil {
			return err
		}
		sort.Slice(snap.Users, func(i, j int) bool { return snap.Users[i].ID < snap.Users[j].ID })
		if err := each(bDevices, func(k, v []byte) error {
			var r deviceRec
			err := decode(v, &r)
			snap.Devices = append(snap.Devices, r.device(binary.BigEndian.Uint64(k)))
			return err
		}); err != nil {
			return err
		}
		var ids []uint64
		if err := each(bEnroll, func(k, v []byte) error {
			var r enrolRec
			err := decode(v, &r)
			e := store.EnrollmentRecord{TokenHash: string(k[1:]), User: r.User, Device: r.Device, Created: time.UnixMilli(r.Created),
				Expires: time.UnixMilli(r.Expires), Used: msTimep(r.Used), UsedFrom: r.From}
			snap.Enrollments, ids = append(snap.Enrollments, e), append(ids, r.ID)
			return err
		}); err != nil {
			return err
		}
		sort.Sort(byID[store.EnrollmentRecord]{snap.Enrollments, ids})
		ids = nil
		if err := each(bSessions, func(k, v []byte) error {
			var r sessionRec
			err := decode(v, &r)
			snap.Sessions, ids = append(snap.Sessions, r.session()), append(ids, binary.BigEndian.Uint64(k[8:]))
			return err
		}); err != nil {
			return err
		}
		sort.Sort(byID[store.AuditSession]{snap.Sessions, ids})
		ids = nil
		if err := each(bDenials, func(k, v []byte) error {
			var r denialRec
			err := decode(v, &r)
			snap.Denials, ids = append(snap.Denials, r.row()), append(ids, binary.BigEndian.Uint64(k[8:]))
			return err
		}); err != nil {
			return err
		}
		sort.Sort(byID[store.AuditDenialRow]{snap.Denials, ids})
		ids = nil
		if err := each(bEvents, func(k, v []byte) error {
			var r eventRec
			err := decode(v, &r)
			snap.Events, ids = append(snap.Events, r.row()), append(ids, binary.BigEndian.Uint64(k[8:]))
			return err
		}); err != nil {
			return err
		}
		sort.Sort(byID[store.AuditEventRow]{snap.Events, ids})
		if err := each(bDDNS, func(k, v []byte) error {
			var r ddnsRec
			err := decode(v, &r)
			p, f, _ := strings.Cut(string(k[1:]), "\x00")
			a, _ := netip.ParseAddr(r.Addr)
			snap.DDNS = append(snap.DDNS, store.DDNSState{Provider: p, Family: f, Addr: a, Updated: time.UnixMilli(r.Updated)})
			return err
		}); err != nil {
			return err
		}
		if err := each(bHolds, func(k, v []byte) error {
			var r holdRec
			err := decode(v, &r)
			snap.Holds = append(snap.Holds, store.ProviderHold{Provider: string(k[1:]), DDNSHold: r.hold()})
			return err
		}); err != nil {
			return err
		}
		return each(bCounters, func(k, v []byte) error {
			snap.Counters[string(k)] = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	return snap, nil
}

// byID sorts rows by a parallel slice of ids.
type byID[T any] struct {
	rows []T
	ids  []uint64
}

func (b byID[T]) Len() int           { return len(b.rows) }
func (b byID[T]) Less(i, j int) bool { return b.ids[i] < b.ids[j] }
func (b byID[T]) Swap(i, j int) {
	b.rows[i], b.rows[j] = b.rows[j], b.rows[i]
	b.ids[i], b.ids[j] = b.ids[j], b.ids[i]
}

// Import writes snap into an empty bbolt database, keeping the
// ids of users and devices.
func (s *Store) Import(ctx context.Context, snap *store.Snapshot) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bUsers, bEnroll, bSessions, bDenials, bEvents} {
			if k, _ := tx.Bucket(b).Cursor().First(); k != nil {
				return fmt.Errorf("%w: %w", store.ErrExists, store.ErrNotEmpty)
			}
		}
		users := tx.Bucket(bUsers)
		for _, u := range snap.Users {
			if err := bumpSeq(users, uint64(u.ID)); err != nil {
				return err
			}
			if err := put(users, []byte(u.Name), userRec{ID: u.ID, Email: u.Email, Disabled: u.Disabled, Created: ms(u.Created), Expires: msp(u.Expires)}); err != nil {
				return fmt.Errorf("user %s: %w", u.Name, err)
			}
		}
		for _, d := range snap.Devices {
			if err := bumpSeq(tx.Bucket(bDevices), uint64(d.ID)); err != nil {
				return err
			}
			r := deviceRec{User: d.User, Name: d.Name, Key: d.PublicKey, Addr: d.Address.String(), Created: ms(d.Created),
				Revoked: msp(d.Revoked), Expires: msp(d.Expires), Pending: msp(d.Pending)}
			if err := putDevice(tx, uint64(d.ID), r); err != nil {
				return fmt.Errorf("device %s/%s: %w", d.User, d.Name, err)
			}
		}
		enroll := tx.Bucket(bEnroll)
		for _, e := range snap.Enrollments {
			id, err := enroll.NextSequence()
			if err != nil {
				return err
			}
			r := enrolRec{ID: id, User: e.User, Device: e.Device, Created: ms(e.Created), Expires: ms(e.Expires), Used: msp(e.Used)}
			if e.Used != nil {
				r.From = e.UsedFrom
			}
			if err := put(enroll, sk(e.TokenHash), r); err != nil {
				return err
			}
		}
		for _, a := range snap.Sessions {
			sr := sessionRec{Key: a.Key, Start: a.Start.UnixMicro(), User: a.User, Device: a.Device, Service: a.Service, Proto: a.Proto,
				Client: a.Client, Rule: a.Rule, Reason: a.Reason, BytesUp: a.BytesUp, BytesDown: a.BytesDown, EndReason: a.EndReason}
			if a.End != nil {
				e := a.End.UnixMicro()
				sr.End = &e
			}
			if err := insertSession(tx, sr, 0); err != nil {
				return err
			}
		}
		for _, d := range snap.Denials {
			if err := putRow(tx.Bucket(bDenials), d.At.UnixMicro(), denialRec{At: d.At.UnixMicro(), User: d.User, Device: d.Device,
				Service: d.Service, Proto: d.Proto, Source: d.Source, Rule: d.Rule, Reason: d.Reason}); err != nil {
				return err
			}
		}
		for _, e := range snap.Events {
			if err := putRow(tx.Bucket(bEvents), e.At.UnixMicro(), eventRec{At: e.At.UnixMicro(), Actor: e.Actor, Action: e.Action, Detail: e.Detail}); err != nil {
				return err
			}
		}
		for _, d := range snap.DDNS {
			if err := put(tx.Bucket(bDDNS), sk(d.Provider+"\x00"+d.Family), ddnsRec{Addr: d.Addr.String(), Updated: ms(d.Updated)}); err != nil {
				return err
			}
		}
		for _, h := range snap.Holds {
			if err := put(tx.Bucket(bHolds), sk(h.Provider), holdRecord(h.DDNSHold, h.Updated)); err != nil {
				return err
			}
		}
		counters := tx.Bucket(bCounters)
		for k, v := range snap.Counters {
			if old := counters.Get([]byte(k)); old != nil && int64(binary.BigEndian.Uint64(old)) > v {
				continue
			}
			if err := counters.Put([]byte(k), u64(uint64(v))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}

// bumpSeq makes the bucket's next id larger than id.
func bumpSeq(b *bbolt.Bucket, id uint64) error {
	if id > b.Sequence() {
		return b.SetSequence(id)
	}
	return nil
}
