// Package storetest is the behavioural contract of store.Backend as a
// test suite: every backend (*sqlite.Store, *bolt.Store, *postgres.Store)
// runs the same cases, so they cannot drift apart.
//
// Typical usage, in a backend's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Backend {
//			b, err := sqlite.Open(context.Background(), t.TempDir())
//			if err != nil { t.Fatal(err) }
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// open must return a fresh, empty, migrated backend for each call; the
// suite closes nothing but what it says it closes (the Close case).
package storetest
