// Package bolt is the state backend of the router build: a store.Backend
// in go.etcd.io/bbolt, so that no SQL engine is linked (9 MB less on
// linux/mipsle). store/local opens it instead of store/sqlite in a build
// with the licgate_store_bolt tag; the package itself builds everywhere.
//
// The file is licgate.bolt, not licgate.db (FileName), so one build never
// opens the other's file, and Open refuses a directory that holds only a
// SQLite database. bbolt locks its file (one process at a time; Open
// waits 5 s for another holder) and fsyncs every commit. Users, devices
// and links are buckets with hand-kept indexes; the audit log is kept in
// time-ordered buckets with an end-time index for sessions, so reports
// read only the range asked for.
//
//	st, err := bolt.Open(ctx, "/var/lib/licgate")
//	if err != nil { ... }
//	defer st.Close()
package bolt
