package store

import (
	"context"
	"fmt"
	"time"
)

// DeviceTx is one backend transaction as adding devices needs it; each
// backend implements it over its own transaction, and AddDeviceIn and
// AddDevicesIn hold the steps they share: check, allocate, insert.
type DeviceTx interface {
	// UserID returns the user's row id; ErrNotFound when there is none.
	UserID(name string) (int64, error)
	// AddrUse reads the allocation state at now: the addresses of active
	// devices and, for pool's quarantine, the revocations since
	// pool.QuarantineSince(now). A backend shared by several gateways
	// locks allocation here for the rest of the transaction.
	AddrUse(pool Pool, now time.Time) (*AddrUse, error)
	// InsertDevice writes d (active, or pending when d.Pending is set; ID
	// not set) for user uid and returns its ID; a taken active name or key
	// (pending devices' included) is KeyTaken or NameTaken.
	InsertDevice(uid int64, d Device) (int64, error)
	// ActiveDevices counts the user's active devices, pending ones
	// included (after AddrUse, so under its lock).
	ActiveDevices(user string) (int, error)
	// PendingDevices lists every pending device (Pending set), ordered by
	// user, name and id.
	PendingDevices() ([]Device, error)
	// ApprovePending makes the pending device id active.
	ApprovePending(id int64) error
	// DeletePending removes the pending device id with its row: its name,
	// key and address are free at once (it never carried traffic).
	DeletePending(id int64) error
	// Claim uses up the enrolment link (ClaimEnrollment's errors).
	Claim(tokenHash, from string) (Enrollment, error)
}

// TxFunc runs fn in one read-write transaction of a backend, committed
// when fn returns nil and rolled back otherwise.
type TxFunc func(ctx context.Context, fn func(DeviceTx) error) error

// DeviceAdder is Backend's AddDevice, AddDevices, AddDeviceWithin and
// ClaimEnrollmentAndAddDevice over a backend's transaction: a backend
// embeds it, so the steps (and their errors) are written once.
type DeviceAdder struct {
	// Run runs one read-write transaction.
	Run TxFunc
	// Now is the backend's clock.
	Now func() time.Time
	// Name starts every error ("store", "postgres").
	Name string
}

func (a DeviceAdder) wrap(what string, err error) error {
	return fmt.Errorf("%s: %s: %w", a.Name, what, err)
}

// AddDevice is Backend.AddDevice.
func (a DeviceAdder) AddDevice(ctx context.Context, nd NewDevice, pool Pool) (Device, error) {
	var d Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		d, err = AddDeviceIn(tx, nd, pool, nil, a.Now())
		return err
	})
	if err != nil {
		return Device{}, a.wrap("add device "+nd.User+"/"+nd.Name, err)
	}
	return d, nil
}

// AddDevices is Backend.AddDevices.
func (a DeviceAdder) AddDevices(ctx context.Context, nds []NewDevice, pool Pool) ([]Device, error) {
	var out []Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		out, err = AddDevicesIn(tx, nds, pool, a.Now())
		return err
	})
	if err != nil {
		return nil, a.wrap("add devices", err)
	}
	return out, nil
}

// AddDeviceWithin is Backend.AddDeviceWithin: the count and the add are
// one transaction, the count after AddrUse's lock.
func (a DeviceAdder) AddDeviceWithin(ctx context.Context, nd NewDevice, pool Pool, max int) (Device, error) {
	what := "add device " + nd.User + "/" + nd.Name
	if max < 1 {
		return Device{}, a.wrap(what, fmt.Errorf("%w: limit %d", ErrInvalid, max))
	}
	var d Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		now := a.Now()
		use, err := tx.AddrUse(pool, now)
		if err != nil {
			return err
		}
		n, err := tx.ActiveDevices(nd.User)
		if err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("user %s has %d active devices, at most %d: %w", nd.User, n, max, ErrLimit)
		}
		d, err = AddDeviceIn(tx, nd, pool, use, now)
		return err
	})
	if err != nil {
		return Device{}, a.wrap(what, err)
	}
	return d, nil
}

// ClaimEnrollmentAndAddDevice is Backend.ClaimEnrollmentAndAddDevice:
// when the device cannot be created the link stays unused.
func (a DeviceAdder) ClaimEnrollmentAndAddDevice(ctx context.Context, tokenHash, from string, nd NewDevice, pool Pool) (Enrollment, Device, error) {
	var e Enrollment
	var d Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		if e, err = tx.Claim(tokenHash, from); err != nil {
			return err
		}
		if nd, err = LinkDevice(e, nd); err != nil {
			return err
		}
		d, err = AddDeviceIn(tx, nd, pool, nil, a.Now())
		return err
	})
	if err != nil {
		return Enrollment{}, Device{}, a.wrap("enrolment link", err)
	}
	return e, d, nil
}

// KeyTaken is the error for an active device's public key used again.
func KeyTaken(key string) error { return fmt.Errorf("public key %s: %w", key, ErrExists) }

// NameTaken is the error for a user's active device name used again.
func NameTaken(user, name string) error { return fmt.Errorf("device %s/%s: %w", user, name, ErrExists) }

// AddDeviceIn adds nd inside tx at now: it checks the name and key,
// reads the allocation state when use is nil (a batch passes its own,
// which is kept up to date), finds the user, allocates the lowest free
// address and inserts the row.
func AddDeviceIn(tx DeviceTx, nd NewDevice, pool Pool, use *AddrUse, now time.Time) (Device, error) {
	if err := ValidName(nd.Name); err != nil {
		return Device{}, err
	}
	if err := CheckKey(nd.PublicKey); err != nil {
		return Device{}, err
	}
	if use == nil {
		var err error
		if use, err = tx.AddrUse(pool, now); err != nil {
			return Device{}, err
		}
	}
	uid, err := tx.UserID(nd.User)
	if err != nil {
		return Device{}, fmt.Errorf("user %s: %w", nd.User, err)
	}
	addr, err := pool.Allocate(use, now)
	if err != nil {
		return Device{}, err
	}
	d := Device{User: nd.User, Name: nd.Name, PublicKey: nd.PublicKey, Address: addr, Created: time.UnixMilli(now.UnixMilli())}
	if nd.Pending != nil {
		p := time.UnixMilli(nd.Pending.UnixMilli())
		d.Pending = &p
	}
	if d.ID, err = tx.InsertDevice(uid, d); err != nil {
		return Device{}, err
	}
	use.Used[addr] = true
	return d, nil
}

// AddDevicesIn adds every nd inside tx, allocating as AddDeviceIn does;
// on an error the caller rolls the transaction back (all or nothing).
func AddDevicesIn(tx DeviceTx, nds []NewDevice, pool Pool, now time.Time) ([]Device, error) {
	use, err := tx.AddrUse(pool, now)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(nds))
	for _, nd := range nds {
		d, err := AddDeviceIn(tx, nd, pool, use, now)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// LinkDevice is the device an enrolment link e creates from nd: nd.User
// and nd.Name default to the link's and must match it when set
// (ErrInvalid).
func LinkDevice(e Enrollment, nd NewDevice) (NewDevice, error) {
	if (nd.User != "" && nd.User != e.User) || (nd.Name != "" && nd.Name != e.Device) {
		return NewDevice{}, fmt.Errorf("%w: link is for %s/%s, not %s/%s", ErrInvalid, e.User, e.Device, nd.User, nd.Name)
	}
	nd.User, nd.Name = e.User, e.Device
	return nd, nil
}
