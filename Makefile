# Conveniences; CI runs `go test ./...` (see README.md and .ci/run).
.PHONY: test bench bench-quick demo dist dist-router

test:
	go test ./...

demo:
	go run ./cmd/licgate demo

# The full comparison benchmark (several minutes); needs haproxy and socat
# (apt-get install haproxy socat) for the proxy-alone comparison.
bench:
	go run ./bench

bench-quick:
	go run ./bench -quick

# Release files in dist/: binaries for every platform, .deb/.rpm/.ipk, SHA256SUMS,
# INSTALL notes (see docs/install-platforms.md). TARGETS=linux/amd64,linux/arm/v7
# builds a subset; DIST_FLAGS=-allow-failures reports failing targets without failing.
dist:
	go run ./tools/dist $(if $(TARGETS),-targets $(TARGETS)) $(if $(VERSION),-version $(VERSION)) $(DIST_FLAGS)

# The small router build (OpenWrt .ipk, build tags licgate_omit_*).
dist-router:
	go run ./tools/dist -router $(if $(TARGETS),-targets $(TARGETS)) $(if $(VERSION),-version $(VERSION)) $(DIST_FLAGS)
