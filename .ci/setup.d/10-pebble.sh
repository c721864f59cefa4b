# Pebble, the ACME test server (certificate tests), from the Go module proxy.
command -v pebble >/dev/null 2>&1 || go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1
