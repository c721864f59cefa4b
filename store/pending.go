package store

import (
	"context"
	"fmt"
	"time"
)

// ErrPendingLimit: AddPendingDevice found as many pending requests, in
// all, as it may hold. It wraps ErrLimit.
var ErrPendingLimit = fmt.Errorf("too many devices wait for approval: %w", ErrLimit)

// AddPendingDevice is Backend.AddPendingDevice: the counts and the add
// are one transaction, after AddrUse's lock.
func (a DeviceAdder) AddPendingDevice(ctx context.Context, nd NewDevice, pool Pool, max, maxPending int, until time.Time) (Device, error) {
	what := "request device " + nd.User + "/" + nd.Name
	if max < 1 || maxPending < 1 {
		return Device{}, a.wrap(what, fmt.Errorf("%w: limits %d, %d", ErrInvalid, max, maxPending))
	}
	nd.Pending = &until
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
			return fmt.Errorf("user %s has %d devices (pending ones included), at most %d: %w", nd.User, n, max, ErrLimit)
		}
		ps, err := tx.PendingDevices()
		if err != nil {
			return err
		}
		if len(ps) >= maxPending {
			return fmt.Errorf("%d requests, at most %d: %w", len(ps), maxPending, ErrPendingLimit)
		}
		d, err = AddDeviceIn(tx, nd, pool, use, now)
		return err
	})
	if err != nil {
		return Device{}, a.wrap(what, err)
	}
	return d, nil
}

// PendingDevices is Backend.PendingDevices.
func (a DeviceAdder) PendingDevices(ctx context.Context) ([]Device, error) {
	var out []Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		out, err = tx.PendingDevices()
		return err
	})
	if err != nil {
		return nil, a.wrap("pending devices", err)
	}
	return out, nil
}

// findPending is the pending device user/name in tx; ErrNotFound.
func findPending(tx DeviceTx, user, name string) (Device, error) {
	ps, err := tx.PendingDevices()
	if err != nil {
		return Device{}, err
	}
	for _, d := range ps {
		if d.User == user && d.Name == name {
			return d, nil
		}
	}
	return Device{}, fmt.Errorf("no pending device %s/%s: %w", user, name, ErrNotFound)
}

// ApproveDevice is Backend.ApproveDevice.
func (a DeviceAdder) ApproveDevice(ctx context.Context, user, name string) (Device, error) {
	var d Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		if d, err = findPending(tx, user, name); err != nil {
			return err
		}
		if !a.Now().Before(*d.Pending) {
			return fmt.Errorf("the request ended at %s: %w", d.Pending.Format(time.RFC3339), ErrExpired)
		}
		d.Pending = nil
		return tx.ApprovePending(d.ID)
	})
	if err != nil {
		return Device{}, a.wrap("approve device "+user+"/"+name, err)
	}
	return d, nil
}

// DenyDevice is Backend.DenyDevice.
func (a DeviceAdder) DenyDevice(ctx context.Context, user, name string) (Device, error) {
	var d Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		var err error
		if d, err = findPending(tx, user, name); err != nil {
			return err
		}
		return tx.DeletePending(d.ID)
	})
	if err != nil {
		return Device{}, a.wrap("deny device "+user+"/"+name, err)
	}
	return d, nil
}

// ExpirePending is Backend.ExpirePending.
func (a DeviceAdder) ExpirePending(ctx context.Context) ([]Device, error) {
	var out []Device
	err := a.Run(ctx, func(tx DeviceTx) error {
		out = nil // a retried transaction starts again
		ps, err := tx.PendingDevices()
		if err != nil {
			return err
		}
		now := a.Now()
		for _, d := range ps {
			if now.Before(*d.Pending) {
				continue
			}
			if err := tx.DeletePending(d.ID); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, a.wrap("expire pending devices", err)
	}
	return out, nil
}
