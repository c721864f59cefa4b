//go:build licgate_omit_acme

package certs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Without ACME, asking for it fails with ErrACMEOmitted and names the
// directory; nothing is signed for the public name.
func TestOmitACMERefusesACME(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := New(t.TempDir(), nil)
	defer m.Close()
	_, err := m.PublicTLS(context.Background(), "gw.example.test", ACME{Directory: "https://acme.example.test/dir"})
	if !errors.Is(err, ErrACMEOmitted) || !strings.Contains(err.Error(), "acme.example.test") {
		t.Fatalf("PublicTLS with an ACME directory: %v; want ErrACMEOmitted naming it", err)
	}
	if v := m.Views(""); len(v) != 0 {
		t.Fatalf("views after a refused PublicTLS: %+v", v)
	}
	if ACMEBuilt || DefaultACMEDirectory != "off" {
		t.Fatalf("ACMEBuilt %v, DefaultACMEDirectory %q in a build without ACME", ACMEBuilt, DefaultACMEDirectory)
	}
}

// The in-memory certificate is signed again on the first handshake after
// two thirds of its lifetime, and not before.
func TestOmitACMERenewsBeforeExpiry(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	now := time.Now()
	m := New(t.TempDir(), nil)
	m.ca.LeafLifetime = 3 * time.Hour
	m.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	srv, err := m.TunnelTLS(context.Background(), "10.44.0.1")
	if err != nil {
		t.Fatal(err)
	}
	first := handshake(t, m, srv, "10.44.0.1")
	if got := first.NotAfter.Sub(first.NotBefore); got != 3*time.Hour+5*time.Minute {
		t.Fatalf("lifetime %v", got)
	}
	advance(time.Hour)
	if again := handshake(t, m, srv, "10.44.0.1"); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("renewed with more than a third of the lifetime left")
	}
	advance(55 * time.Minute) // renewAt is NotAfter - (3h5m)/3: about 3 minutes on
	if again := handshake(t, m, srv, "10.44.0.1"); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("renewed before two thirds of the lifetime")
	}
	advance(10 * time.Minute)
	renewed := handshake(t, m, srv, "10.44.0.1")
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("not renewed with less than a third of the lifetime left")
	}
	if v := m.Views("10.44.0.1"); len(v) != 1 || !v[0].NotAfter.Equal(renewed.NotAfter) {
		t.Fatalf("views after renewal: %+v (want NotAfter %v)", v, renewed.NotAfter)
	}
}
