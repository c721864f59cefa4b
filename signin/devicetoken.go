package signin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrDeviceToken: a device token that is malformed, forged, or expired.
var ErrDeviceToken = errors.New("signin: bad device token")

// DeviceTokens makes and checks the tokens with which a page that knows the
// device (licgate's tunnel portal, which sees the WireGuard-authenticated
// tunnel address) names it in a sign-in link, so that the sign-in unlocks
// that device only. A token is user, device and expiry, HMAC-SHA256-signed
// with a key derived from Key; it is not secret (it travels in a URL) and
// proves only that the portal made it for that device.
type DeviceTokens struct {
	// Key is at least 32 bytes (the gateway's sign-in key).
	Key []byte
	// TTL is how long a token works. If zero, 1h.
	TTL time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

func (d DeviceTokens) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d DeviceTokens) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte("licgate unlock device v1\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// Make returns a token for user's device, valid for TTL.
func (d DeviceTokens) Make(user, device string) string {
	ttl := d.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	payload := []byte(user + "\x00" + device + "\x00" + strconv.FormatInt(d.now().Add(ttl).Unix(), 10))
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(d.mac(payload))
}

// Parse checks tok's signature and expiry and returns its user and device;
// errors wrap ErrDeviceToken.
func (d DeviceTokens) Parse(tok string) (user, device string, err error) {
	if len(d.Key) < 32 {
		return "", "", fmt.Errorf("%w: no key", ErrDeviceToken)
	}
	enc, sig, ok := strings.Cut(tok, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, d.mac(payload)) {
		return "", "", fmt.Errorf("%w: not genuine", ErrDeviceToken)
	}
	parts := strings.Split(string(payload), "\x00")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: malformed", ErrDeviceToken)
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || d.now().After(time.Unix(exp, 0)) {
		return "", "", fmt.Errorf("%w: expired", ErrDeviceToken)
	}
	return parts[0], parts[1], nil
}
