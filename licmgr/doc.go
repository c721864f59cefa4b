// Package licmgr owns licgate's knowledge of the license managers it
// fronts: CodeMeter, FlexNet (lmgrd and vendor daemons), RLM (rlm and ISV
// servers), Sentinel LDK and Sentinel RMS. It is a leaf: pure functions and
// values, no I/O beyond reading a license file it is handed, nothing of the
// project.
//
// It answers four questions for the rest of licgate:
//
//   - Which ports does a manager use, on which protocols, and which of them
//     hold the seats? Expand turns a services[].type into Ports. Caps count
//     connections on a port with HoldsSeats only: FlexNet's lmgrd and RLM's
//     rlm port answer short lookups ("where is vendor X?") and close; the
//     seat lives as long as the client's connection to the vendor daemon or
//     ISV server. Counting lmgrd connections would count nothing useful and
//     would refuse lookups while seats are free.
//   - Is this a request to the manager's own web administration? Admin
//     ports (RLM 5054, CodeMeter WebAdmin 22352/22353) are left out unless
//     asked for; Sentinel LDK serves its Admin Control Center on the
//     licensing port 1947 itself, so ClassifyLDK tells the two apart from a
//     connection's first bytes.
//   - Is this license file usable through a gateway? Lint finds FlexNet
//     VENDOR/DAEMON lines and RLM ISV lines without a pinned port, SERVER
//     and HOST lines without a port or with a placeholder host, and gives
//     the exact corrected line.
//   - Who holds the seats? ParseLmstat reads `lmutil lmstat -a` and
//     ParseRlmstat reads `rlmutil rlmstat -a`, into Usage.
//
// And one rule for admission: Reconnect says which earlier sessions of a
// device to cut when the same device opens a new seat connection while
// the earlier one is silent, so that a reconnecting client holds one seat,
// not two (FlexNet's "additional license consumed on client reconnection";
// CodeMeter's CleanUpTimeOut of 120 s).
//
// Typical usage:
//
//	ports, err := licmgr.Expand(licmgr.FlexNet, licmgr.Options{
//		Daemons: []licmgr.Daemon{{Name: "adskflex", Port: 27001}},
//	})
//	for _, p := range ports { listen(p.Port, p.Protocols); if p.HoldsSeats { countCaps() } }
//
//	findings, lf, err := licmgr.LintFile("/opt/flexlm/license.dat", licmgr.LintOptions{})
//	for _, f := range findings { fmt.Println(f) } // license.dat:2: VENDOR adskflex has no PORT= ...
package licmgr
