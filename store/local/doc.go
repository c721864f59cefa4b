// Package local opens the state store kept in the state directory: the
// SQLite backend (store/sqlite, licgate.db), or in a build with the
// licgate_store_bolt tag (the router build, which links no SQL engine)
// the bbolt backend (store/bolt, licgate.bolt). It is the one place that
// tag chooses a backend; both backends build in every build.
//
// Typical usage:
//
//	st, err := local.Open(ctx, "/var/lib/licgate")
//	if err != nil { ... } // names the state directory when it is read-only or full
//	defer st.Close()
package local
