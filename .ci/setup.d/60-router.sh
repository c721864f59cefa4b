# ci: background
# Router build (issue 19): the tags that leave ACME, Prometheus metrics, UPnP and
# the web console out (tools/dist -router passes the same) must keep the
# tree building, and each omitted part must fail clearly when configured.
router_tags=licgate_omit_acme,licgate_omit_console,licgate_omit_metrics,licgate_omit_pprof,licgate_omit_upnp,nethttpomithttp2
go vet -tags "$router_tags" ./...
go test -tags "$router_tags" ./certs/ ./adminapi/ ./config/
go test -tags "$router_tags" -run TestOmit ./portmap/
