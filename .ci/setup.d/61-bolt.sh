# Router state in bbolt (issue 19): the tree builds and vets with the
# store's bbolt backend, the backend passes the store contract
# (store/storetest, plus reopen, state-directory and Copy cases), and the
# router binaries tools/dist builds (RouterTags, RouterGCFlags) fit in
# 20 MB (20,000,000 bytes) stripped: dist fails a larger one, and this
# checks the files again.
go vet -tags licgate_store_bolt ./...
bolt_router_tags=licgate_omit_acme,licgate_omit_console,licgate_omit_metrics,licgate_omit_upnp,nethttpomithttp2,licgate_omit_postgres,licgate_store_bolt
go vet -tags "$bolt_router_tags" ./cmd/licgate/ ./gateway/ ./store/...
go test -tags licgate_store_bolt ./store/
go test -tags licgate_omit_postgres -run TestOmitted ./store/postgres/
go test -tags licgate_omit_postgres -run TestPostgresOmitted ./config/
bolt_out=$(mktemp -d)
go run ./tools/dist -router -targets linux/mipsle,linux/arm -packages none -out "$bolt_out"
for bin in licgate-linux-mipsle-router licgate-linux-armv7-router; do
	size=$(stat -c %s "$bolt_out/$bin")
	echo "61-bolt: $bin is $size bytes (limit 20000000)"
	if [ "$size" -gt 20000000 ]; then
		echo "61-bolt: $bin is larger than 20 MB" >&2
		exit 1
	fi
done
rm -rf "$bolt_out"
