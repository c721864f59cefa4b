// Package sqlite is licgate's default state backend: a store.Backend in
// SQLite with versioned migrations. The driver is
// github.com/ncruces/go-sqlite3 (SQLite translated to pure Go by
// wasm2go), which builds without cgo for every target licgate ships.
//
// Every write is one transaction; the database runs in WAL mode with
// synchronous=FULL, so a crash loses nothing that was committed. The file
// is licgate.db in the state directory (FileName); a directory that is
// read-only or full is named in an error wrapping store.ErrStateDir.
//
// The statements, row scanners and one-statement methods are shared with
// store/postgres (store/internal/sqlrow); the device-adding methods are
// store.DeviceAdder's. Most callers open it through store/local.
//
//	st, err := sqlite.Open(ctx, "/var/lib/licgate")
//	if err != nil { ... }
//	defer st.Close()
package sqlite
