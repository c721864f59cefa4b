# ci: background
# Router state in bbolt (issue 19): the tree builds and vets with the
# store's bbolt backend, the backend passes the store contract
# (store/storetest, plus reopen, state-directory and Copy cases), and the
# router binary tools/dist builds (RouterTags, RouterGCFlags) fits in
# 20 MB (20,000,000 bytes) stripped: dist fails a larger one, and this
# checks the file again. Only linux/mipsle is built here: MIPS code is the
# largest of the router targets (mipsle 19.1 MB, armv7 16.6 MB on
# 2026-12-06; mips is mipsle's big-endian twin), and each router build
# costs a full compile of the tree (about 2 CPU-minutes). `go run
# ./tools/dist -router` builds them all, and fails any over the limit.
go vet -tags licgate_store_bolt ./...
bolt_router_tags=licgate_omit_acme,licgate_omit_console,licgate_omit_metrics,licgate_omit_pprof,licgate_omit_upnp,nethttpomithttp2,licgate_omit_postgres,licgate_store_bolt
go vet -tags "$bolt_router_tags" ./cmd/licgate/ ./gateway/ ./store/...
go test -tags licgate_store_bolt ./store/bolt/ ./store/local/ ./store/open/
go test -tags licgate_omit_postgres -run TestOmitted ./store/postgres/
go test -tags licgate_omit_postgres -run TestPostgresOmitted ./config/
bolt_out=$(mktemp -d)
go run ./tools/dist -router -targets linux/mipsle -packages none -out "$bolt_out"
for bin in licgate-linux-mipsle-router; do
	size=$(stat -c %s "$bolt_out/$bin")
	echo "61-bolt: $bin is $size bytes (limit 20000000)"
	if [ "$size" -gt 20000000 ]; then
		echo "61-bolt: $bin is larger than 20 MB" >&2
		exit 1
	fi
done
rm -rf "$bolt_out"
