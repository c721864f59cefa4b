# Conveniences; CI runs `go test ./...` (see README.md and .ci/run).
.PHONY: test bench bench-quick demo

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
