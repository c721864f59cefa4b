package main

import (
	"flag"

	"github.com/licgate/licgate/cmd/licgate/internal/admincmd"
	"github.com/licgate/licgate/cmd/licgate/internal/clikit"
)

// commands is every command of the CLI, in the order `licgate --help`
// lists them. Adding a command is adding an entry: help, flags, argument
// count, the daemon's -c/-socket flags and --json all follow from it.
var commands []command

func init() {
	commands = []command{
		{name: "serve", synopsis: "[-c FILE] [--check]", short: "run the gateway daemon (--check: only validate the config)", nargs: 0,
			help: `Runs the gateway: WireGuard, the license proxy, the admin API on its unix
socket. SIGHUP reloads the config; SIGTERM stops it.

With --check, loads and validates the config and its policy (running the
policy's tests) and exits: 0 with a one-line summary, or 1 with the
file:line of the first problem. Nothing is started.`,
			setup: setupServe},
		{name: "demo", synopsis: "[--once] [-v] [--dir DIR]", short: "run a self-contained demo (no root, no config)", nargs: 0,
			help: `Runs a stand-in license server, the gateway (userspace WireGuard) and a home
device on loopback, and tells the story: a seat taken through the tunnel,
a UDP search answered, the device revoked, the seat freed. Then the gateway
keeps serving for you to try the CLI on; --once exits instead.`,
			setup: setupDemo},
		{name: "status", synopsis: "[--json]", short: "is the daemon up: tunnel, devices, sessions per service", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupStatus},
		{name: "user", short: "manage users"},
		{name: "user add", synopsis: "NAME [--email E]", short: "add a user", nargs: 1, daemon: true, setup: admincmd.SetupUserAdd,
			help: "NAME: lowercase letters, digits, '.', '_' or '-' (at most 63)."},
		{name: "user import", synopsis: "FILE.csv", short: "add users from a CSV of name,email[,groups]", nargs: 1, daemon: true, setup: setupUserImport,
			help: "Rows are name,email and optionally groups (separated by ; or spaces); a header row\nis recognised. Existing users are left alone. Groups belong to the policy: the\nblock to add to licgate.yaml is printed."},
		{name: "user list", synopsis: "[--json]", short: "list users", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupUserList},
		{name: "user disable", synopsis: "NAME", short: "disable a user, cutting their live sessions", nargs: 1, daemon: true, setup: admincmd.SetupUserDisable(true)},
		{name: "user enable", synopsis: "NAME", short: "enable a disabled user", nargs: 1, daemon: true, setup: admincmd.SetupUserDisable(false)},
		{name: "user expire", synopsis: "NAME DATE|never", short: "end a user's access on a date", nargs: 2, daemon: true, setup: admincmd.SetupUserExpire,
			help: expiryHelp},
		{name: "device", short: "manage devices (WireGuard peers)"},
		{name: "device add", synopsis: "USER NAME [--out PREFIX] [--public-key KEY] [--no-qr] | USER NAME --link [--ttl 24h]",
			short: "add a device and show its profile once", nargs: 2, daemon: true, setup: admincmd.SetupDeviceAdd,
			help: `Creates the device and prints its WireGuard profile (and a QR code) once:
licgate keeps no copy of the private key. --out PREFIX also writes the
home-user bundle: PREFIX.conf, PREFIX.png, PREFIX-linux.sh,
PREFIX-macos.sh and PREFIX-windows.ps1. PREFIX's last element becomes the
WireGuard interface name on the home computer: at most 15 of
a-z A-Z 0-9 _ = + . - . Arguments and the output directory are checked
before the device is created.

--public-key KEY registers a device that made its own key pair (no profile).
--link makes a single-use enrolment link instead (needs public.listen).`},
		{name: "device list", synopsis: "[--all] [--json]", short: "list devices", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupDeviceList},
		{name: "device revoke", synopsis: "USER NAME", short: "revoke a device, cutting its live sessions", nargs: 2, daemon: true, setup: admincmd.SetupDeviceRevoke},
		{name: "device rekey", synopsis: "USER NAME [--out PREFIX] [--public-key KEY] [--no-qr]", short: "give a device a new key (the old profile stops working)",
			nargs: 2, daemon: true, setup: admincmd.SetupDeviceRekey},
		{name: "device expire", synopsis: "USER NAME DATE|never", short: "stop a device working on a date", nargs: 3, daemon: true, setup: admincmd.SetupDeviceExpire,
			help: expiryHelp},
		{name: "device pending", synopsis: "[--json]", short: "devices that wait for an admin's approval", nargs: 0, daemon: true, listing: true,
			setup: admincmd.SetupDevicePending, help: admincmd.ApprovalHelp},
		{name: "device approve", synopsis: "USER NAME", short: "approve a waiting device: it connects from then on", nargs: 2, daemon: true,
			setup: admincmd.SetupDeviceDecide(true), help: admincmd.ApprovalHelp},
		{name: "device deny", synopsis: "USER NAME", short: "deny a waiting device", nargs: 2, daemon: true, setup: admincmd.SetupDeviceDecide(false), help: admincmd.ApprovalHelp},
		{name: "sessions", synopsis: "[--json]", short: "list live license sessions", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupSessions},
		{name: "sessions cut", synopsis: "ID", short: "end a live session", nargs: 1, daemon: true, setup: admincmd.SetupSessionCut},
		{name: "peers", synopsis: "[--json]", short: "list WireGuard peers and last handshakes", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupPeers},
		{name: "groups", synopsis: "[--json]", short: "policy groups and their members", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupGroups},
		{name: "services", synopsis: "[--json]", short: "proxied license services and their sessions", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupServices},
		{name: "licenses", synopsis: "[--json]", short: "seats per service and feature, and who holds them", nargs: 0, daemon: true, listing: true,
			setup: admincmd.SetupLicenses, help: admincmd.LicensesHelp},
		{name: "denials", synopsis: "[--since 1h] [--json]", short: "connections the policy refused", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupDenials},
		{name: "certs", synopsis: "[--json]", short: "TLS certificates served (console, enrolment) and when they expire", nargs: 0, daemon: true, listing: true, setup: admincmd.SetupCerts},
		{name: "ca", short: "the internal CA's certificate (for admins' browsers)", nargs: 0, daemon: true, setup: admincmd.SetupCA},
		{name: "policy", short: "check, show, explain and reload the access policy"},
		{name: "policy check", synopsis: "FILE [--services a,b]", short: "compile a policy or licgate.yaml and run its tests", nargs: 1, setup: setupPolicyCheck},
		{name: "policy show", synopsis: "[--json]", short: "the rules in force", nargs: 0, daemon: true, listing: true, setup: setupPolicyShow},
		{name: "policy reload", synopsis: "[--json]", short: "re-read the config and put it in force", nargs: 0, daemon: true, setup: setupPolicyReload,
			help: `Sessions the new policy no longer allows are cut. Settings that only take
effect after a restart are named.`},
		{name: "policy explain", synopsis: "--user U [--device D] --service S [--at TIME] [--file F]", short: "explain the decision for a connection",
			nargs: 0, daemon: true, setup: setupPolicyExplain},
		{name: "report", synopsis: "[--from T] [--to T] [--by user|group|service|product] [--format table|csv|json] [--json]", short: "license use over a period",
			nargs: 0, daemon: true, listing: true, setup: setupReport,
			help: "T: a date (2026-11-01), a date and time (2026-11-01T08:00), RFC 3339, or a span back from now (24h, 30d)."},
		{name: "ddns", short: "dynamic DNS"},
		{name: "ddns status", synopsis: "[--json]", short: "dynamic DNS state per provider", nargs: 0, daemon: true, listing: true, setup: setupDDNS(false)},
		{name: "ddns update", synopsis: "--now [--json]", short: "check the address and update now", nargs: 0, daemon: true, listing: true, setup: setupDDNS(true)},
		{name: "invite", synopsis: "USER... | --group G | --all [--device NAME] [--ttl 7d] [--csv FILE]", short: "send enrolment links by e-mail (or print them)", nargs: -1, setup: setupInvite,
			help: `Makes a single-use enrolment link per user (each creates one device, named by
--device, default "home") and sends it by e-mail through the smtp: settings,
with what to install and when the link expires. Without smtp: the links are
printed, and --csv FILE writes name,email,link for IT to send. Needs the
public listener (public.listen). Users and addresses are checked before any
link is made.`},
		{name: "setup", synopsis: "[--manager TYPE] [--license-file FILE] [--upstream HOST:PORT] [--public-name NAME] [--portmap on|off] [--admin NAME] [--public-listen :443] [--smtp-host HOST --smtp-from ADDR] [--yes] [--no-service] [-c FILE]",
			short: "set up this office: write the config, install the service, enrol the first admin", nargs: 0, setup: setupSetup,
			help: `Asks (in a terminal) or takes from flags: the license server (it looks for a
CodeMeter server on this machine and checks the one given answers), the office's
public name, whether to open the port on the router by UPnP/NAT-PMP/PCP. Writes a
commented config (validated first: nothing is written if it would not load),
installs and starts the system service (systemd, Windows service, launchd), enrols
the first admin with a device, and prints what is left for a person to do.
Running it again shows the current settings and changes only what is asked.`},
		{name: "doctor", synopsis: "[-c FILE] [--quiet]", short: "check what usually goes wrong, and say what to do", nargs: 0, setup: setupDoctor,
			help: `Checks, one line each (OK, WARN or FAIL): the config; the clock; each license
server answering; the daemon running; its WireGuard port bound; the router port
mapping; the public name resolving (at its own name servers) to the detected
public address; the public certificate; denials of the last day; devices that
never connected; for source: tunnel, that replies come back. Exits 1 if any
check FAILs. --quiet prints only problems (for keepalived's health check).`},
		{name: "service", short: "run licgate as a system service (systemd, Windows service, launchd, rc.d)"},
		{name: "service install", synopsis: "[-c FILE]", short: "install, enable at boot and start the service", nargs: 0, setup: setupService("install"),
			help: "Writes the service definition, creates the state directory with its permissions\n(Administrators and SYSTEM only on Windows), enables it at boot and starts it.\nInstalling again replaces the definition and restarts."},
		{name: "service uninstall", short: "stop and remove the service (config and state stay)", nargs: 0, setup: setupService("uninstall")},
		{name: "service start", short: "start the installed service", nargs: 0, setup: setupService("start")},
		{name: "service stop", short: "stop the service", nargs: 0, setup: setupService("stop")},
		{name: "service status", short: "installed, running or stopped", nargs: 0, setup: setupService("status")},
		{name: "directory", short: "users and groups from LDAP / Active Directory"},
		{name: "directory status", synopsis: "[--json]", short: "the directory sync's state", nargs: 0, daemon: true, listing: true, setup: setupDirectory(false)},
		{name: "directory sync", synopsis: "[--json]", short: "sync the directory now", nargs: 0, daemon: true, listing: true, setup: setupDirectory(true)},
		{name: "directory accept", short: "put in force the snapshot the safeguard held back", nargs: 0, daemon: true, setup: setupDirectoryAccept,
			help: "A sync that would take rights from more users at once than directory.max_change\nallows is held back (`licgate directory status` shows it). If the change is real,\nthis puts that snapshot in force: those users are disabled or lose their groups,\nand their sessions are cut."},
		{name: "store", short: "the state store"},
		{name: "store migrate", synopsis: "--to postgres --dsn-file FILE [-c FILE]", short: "copy the SQLite state into PostgreSQL (daemon stopped)", nargs: 0, setup: setupStoreMigrate,
			help: "Copies users, devices (revoked too), enrolment links, the audit log and ddns state\ninto an empty PostgreSQL database, then reads every row back to check nothing\nwas lost. The SQLite file is left as it was. See docs/ha.md."},
		{name: "license", short: "license files of the license managers (FlexNet, RLM)"},
		{name: "license lint", synopsis: "[FILE] [--manager flexnet|rlm] [--host NAME] [-c FILE]", short: "check a license file's ports and server line, with corrected lines",
			nargs: -1, setup: setupLicenseLint, help: licenseLintHelp},
		{name: "licsim", synopsis: "[--listen ADDR] [--seats N]", short: "run the stand-in license server", nargs: 0, setup: setupLicsim},
		{name: "version", short: "print licgate's version and build", nargs: 0, setup: setupVersion},
	}
	for i := range commands {
		if c := &commands[i]; c.listing {
			c.setup = withJSON(c.setup)
		}
	}
}

const expiryHelp = `DATE: a date (2026-12-31: through that day, office time), a date and time
(2026-12-31T18:00), RFC 3339, or never. Live sessions past it are cut.`

// withJSON adds --json to a listing (unless it has its own).
func withJSON(setup func(fs *flag.FlagSet) clikit.RunFunc) func(fs *flag.FlagSet) clikit.RunFunc {
	return func(fs *flag.FlagSet) clikit.RunFunc {
		r := setup(fs)
		if fs.Lookup("json") != nil {
			return r
		}
		asJSON := fs.Bool("json", false, "print JSON (for scripts) instead of a table")
		return func(e *clikit.Env, args []string) error {
			e.JSON = *asJSON
			return r(e, args)
		}
	}
}
