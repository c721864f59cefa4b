package store

import "errors"

// ErrLimit: AddDeviceWithin found the user at their device limit.
var ErrLimit = errors.New("device limit reached")
