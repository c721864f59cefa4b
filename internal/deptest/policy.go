package deptest

// Licgate is the house's shape (docs/ARCHITECTURE.md, DESIGN.md): one-way
// layers, forbidden edges with their reasons, fixtures kept out of the
// product, and size budgets. TestDependenciesPointOneWay holds the tree to it in every
// build; a change that breaks it either fixes the code or changes this
// table with a reason a reviewer can judge.
var Licgate = Policy{
	// Bottom first. Commands (package main: cmd/licgate, tools/*, bench,
	// the probes) sit above every layer. A package in no layer fails the
	// test: a new package chooses its storey.
	Layers: []Layer{
		{"leaf", []string{
			"acl/...", "tunnel/...", "transparent", "service", "buildinfo",
			"ddns/ifwatch", "internal/...", "licmgr/...",
		}},
		{"part", []string{
			"session", "proxy", "flowgate", "ddns/...", "portmap/...", "certs", "audit", "mail/...",
			"signin/...", "directory/...", "cluster/...", "store/...", "bundle", "adminapi/licmetrics",
		}},
		{"feature", []string{"adminapi", "adminapi/adminauth", "adminapi/approval", "enroll", "identity", "admission", "portal", "dirsync"}},
		// config assembles the parts' and features' settings, so it sits
		// above them and below what runs them.
		{"config", []string{"config"}},
		// gateway runs the daemon; office and doctor are the CLI's
		// commands that talk to a daemon (or set one up) from outside.
		{"app", []string{"gateway/...", "office", "doctor"}},
		// Test harnesses that start a whole gateway or talk to one.
		{"harness", []string{"gateway/gatewaytest", "internal/interop", "internal/deptest"}},
		// The commands' own packages (cmd/licgate/internal/...: the demo,
		// command groups; bench/internal/...: the benchmark's sections)
		// sit under package main, above what they run.
		{"cmd", []string{"cmd/...", "bench/..."}},
	},

	SelfContained: map[string]string{
		"acl":         "the policy is pure: no I/O, no clock, nothing of the project",
		"ddns":        "address detection and updaters stand alone (the store adapts to them)",
		"tunnel":      "WireGuard devices know nothing of users, sessions or storage",
		"transparent": "a socket and routing helper for the proxy; no project state",
		"directory":   "LDAP sync returns snapshots; the gateway decides what they do",
		"mail":        "an SMTP sender and templates; no project state",
		"signin":      "an OIDC relying party; the gateway maps identities to users",
		"licmgr":      "the license managers' ports and files: pure values, read by config and the gateway",
	},

	Harness: []string{
		"acl/acltest", "cluster/clustertest", "ddns/ddnstest", "directory/directorytest",
		"gateway/gatewaytest", "mail/mailtest", "portmap/portmaptest", "signin/signintest",
		"store/storetest", "store/postgres/pgtest",
		"internal/netnstest", "internal/testnet", "internal/interop", "internal/deptest",
	},

	Rules: []Rule{
		{From: "acl", To: "net", Why: "the policy is pure: no I/O"},
		{From: "acl", To: "os/exec", Why: "the policy is pure: no I/O"},
		{From: "acl", To: "database/sql", Why: "the policy is pure: no I/O"},

		{From: "tunnel/...", To: "store/...", Why: "WireGuard devices and their firewall know nothing of storage"},
		{From: "tunnel/...", To: "session", Why: "WireGuard devices know nothing of sessions"},
		{From: "tunnel/...", To: "config", Why: "the tunnel takes plain values"},

		{From: "session", To: "proxy", Why: "the table is what the proxy fills, not the other way"},
		{From: "session", To: "gateway/...", Why: "only cmd imports the lifecycle package"},
		{From: "session", To: "store/...", Why: "sessions live in memory; the audit records them"},

		{From: "proxy", To: "gateway/...", Why: "the proxy is told how to identify and authorize through functions"},
		{From: "proxy", To: "store/...", Why: "the data path never waits on the database"},
		{From: "proxy", To: "audit", Why: "records go through the session table's hooks"},

		{From: "config", To: "gateway/...", Why: "an immutable config is built before the gateway"},
		{From: "config", To: "adminapi", Why: "the API reads the gateway, not the file"},
		{From: "config", To: "store/...", Why: "config is parsed before the state opens"},

		{From: "audit", To: "gateway/...", Why: "the audit writer serves the gateway, not the reverse"},
		{From: "audit", To: "proxy", Why: "off the data path"},

		{From: "certs", To: "gateway/...", Why: "certificates are provisioned from values, not from the daemon"},
		{From: "certs", To: "config", Why: "certs take plain values, so they stay testable alone"},

		{From: "store/...", To: "gateway/...", Why: "storage knows no daemon"},
		{From: "store/...", To: "adminapi", Why: "storage knows no HTTP"},
		{From: "store/...", To: "config", Why: "a backend takes its own settings (a directory, a DSN), not the daemon's file"},

		{From: "cluster/...", To: "gateway/...", Why: "cluster.Member is given what it needs; it never calls back up"},

		{From: "adminapi", To: "gateway/...", Why: "handlers see the gateway only through Backend, so they can be tested against a fake"},
		{From: "enroll", To: "gateway/...", Why: "the public pages see the gateway only through Backend"},
		{From: "enroll", To: "adminapi", Why: "the internet-facing listener shares no code path with the admin API"},
		{From: "bundle", To: "gateway/...", Why: "home-user files are built from a profile"},
		{From: "portmap/...", To: "gateway/...", Why: "router port mapping stands alone"},
		{From: "portmap/...", To: "store/...", Why: "a mapping is renewed, never stored"},
		{From: "portmap/...", To: "config", Why: "it takes plain values"},

		{From: "office", To: "gateway/...", Why: "invitations go through the daemon's API, as the CLI does"},
		{From: "doctor", To: "gateway/...", Why: "the doctor checks a running daemon from outside, through its API, as a person would"},
		// doctor may see store's contract (the API's row types: User,
		// Device, AuditSessionRow) but none of the backends that open a
		// database.
		{From: "doctor", To: "store/sqlite/...", Why: "it must not open the daemon's database"},
		{From: "doctor", To: "store/bolt/...", Why: "it must not open the daemon's database"},
		{From: "doctor", To: "store/postgres/...", Why: "it must not open the daemon's database"},
		{From: "doctor", To: "store/local/...", Why: "it must not open the daemon's database"},
		{From: "doctor", To: "store/open/...", Why: "it must not open the daemon's database"},
		{From: "gateway/...", To: "doctor", Why: "the daemon does not run the CLI's checks"},
		{From: "gateway/...", To: "office", Why: "the daemon does not run the CLI's set-up"},

		// What each router tag leaves out must stay out: no other path may
		// bring the library back into the binary.
		{From: "cmd/licgate", To: "github.com/caddyserver/certmagic/...", Tag: "licgate_omit_acme", Why: "licgate_omit_acme leaves ACME out of the router build"},
		{From: "cmd/licgate", To: "github.com/prometheus/...", Tag: "licgate_omit_metrics", Why: "licgate_omit_metrics leaves Prometheus out"},
		{From: "cmd/licgate", To: "google.golang.org/protobuf/...", Tag: "licgate_omit_metrics", Why: "protobuf comes only with Prometheus"},
		{From: "cmd/licgate", To: "github.com/huin/goupnp/...", Tag: "licgate_omit_upnp", Why: "licgate_omit_upnp leaves goupnp out"},
		{From: "cmd/licgate", To: "runtime/pprof", Tag: "licgate_omit_pprof", Why: "licgate_omit_pprof leaves the profilers out of the router build"},
		{From: "cmd/licgate", To: "github.com/jackc/pgx/...", Tag: "licgate_omit_postgres", Why: "licgate_omit_postgres leaves pgx out"},
		{From: "cmd/licgate", To: "github.com/ncruces/go-sqlite3/...", Tag: "licgate_store_bolt", Why: "licgate_store_bolt links no SQL engine"},
		{From: "cmd/licgate", To: "golang.org/x/net/http2/...", Tag: "nethttpomithttp2", Why: "nethttpomithttp2 leaves HTTP/2 out; x/net/http2 would bring it back"},
	},

	MaxLines: 2000,
	Budgets: map[string]int{
		"gateway": 1500, // lifecycle only (issue 24)
	},
}
