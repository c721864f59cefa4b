// Command licgate is the licgate gateway and its admin CLI.
//
// Every command is one entry of the table in commands.go: its words
// ("device add"), synopsis, help, argument count, whether it talks to the
// daemon (then -c FILE / -socket PATH / $LICGATE_SOCKET select the
// socket) and whether it is a listing (then --json prints JSON instead of
// a table), and a setup function that defines its flags and returns the
// function that runs it. Help (`licgate help X`, `licgate X --help`),
// usage errors (stderr, exit status 2) and the top-level listing all
// follow from the table. Commands check their arguments before they ask
// the daemon for anything, and call it only through adminapi.Client's
// typed methods.
//
// Typical usage:
//
//	licgate serve -c /etc/licgate/licgate.yaml   run the daemon (--check: validate and exit)
//	licgate demo [--once]                         a self-contained demonstration
//	licgate user add alice --email alice@example.com
//	licgate device add alice laptop --out alice-laptop
//	licgate sessions --json                       any listing as JSON
//	licgate help device add                       what a command takes
//
// The commands that manage a running daemon (status, user, device,
// sessions, peers, groups, services, denials, certs, ca) are package
// internal/admincmd; what every command shares (Env, RunFunc, usage
// errors, tables and JSON, argument checks) is internal/clikit; the demo
// is internal/demo.
//
// Adding a command: append an entry to commands (a group entry, with no
// setup, for a new first word), write its setup function, and the help
// test in cli_test.go covers it.
package main
