package clustertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeepalivedConfigsLoad: the shipped example configurations pass
// keepalived's own check (in a namespace that has their eth0), and a
// broken one does not (the check can fail).
func TestKeepalivedConfigsLoad(t *testing.T) {
	if !Need(t, "ip", "keepalived") {
		return
	}
	dir := filepath.Join(RepoDir(), "deploy", "keepalived")
	ns := "postgres-kcfg"
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	tmp, err := os.MkdirTemp("", "postgres-kcfg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	script := filepath.Join(tmp, "licgate-check.sh")
	raw, err := os.ReadFile(filepath.Join(dir, "licgate-check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(script, raw, 0o755)
	if err := CopyNotifyScript(dir, tmp); err != nil {
		t.Fatal(err)
	}
	check := func(name, conf string) error {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte(conf), 0o600)
		out, err := exec.Command("ip", "netns", "exec", ns, "keepalived", "--config-test", "-f", p).CombinedOutput()
		if err != nil {
			t.Logf("%s:\n%s", name, out)
		}
		return err
	}
	for _, role := range []string{"a", "b"} {
		b, err := os.ReadFile(filepath.Join(dir, "keepalived-"+role+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		// As shipped, with the check script where docs/ha.md installs it.
		conf := string(b)
		conf = replaceScript(conf, script)
		if err := check(role+".conf", conf); err != nil {
			t.Errorf("keepalived-%s.conf does not load: %v", role, err)
		}
	}
	if err := check("broken.conf", "vrrp_instance X {\n state BACKUP\n interface eth0\n virtual_router_id 999\n priority 100\n}\n"); err == nil {
		t.Error("keepalived accepted a broken configuration: the check cannot fail")
	}
}

// replaceScript points the configuration at the scripts' copies.
func replaceScript(conf, script string) string {
	return strings.NewReplacer("/usr/local/lib/licgate/licgate-check.sh", script,
		"/usr/local/lib/licgate/licgate-notify.sh", filepath.Join(filepath.Dir(script), "licgate-notify.sh")).Replace(conf)
}

// TestVIPMoves: two keepalived daemons share the VIP as the example
// configurations say; when A's health check fails the VIP moves to B,
// and when A's keepalived is killed (a frozen box) B takes over too.
func TestVIPMoves(t *testing.T) {
	p := StartVRRP(t, VRRPOptions{})
	if p == nil {
		return
	}
	p.WaitHolder(t, 0, 15*time.Second)
	waitFor(t, "A's answers leave from the VIP", func() bool { return p.SourceIsVIP(0) })
	// B, started after A, stays backup: no split brain (B would take
	// the VIP about 3.6 s after start if it missed A's adverts).
	time.Sleep(5 * time.Second)
	if p.Holds(1) || !p.Holds(0) {
		t.Fatalf("both or the wrong one hold the VIP (A %v, B %v)\nkeepalived a:\n%s\nkeepalived b:\n%s", p.Holds(0), p.Holds(1), p.Log(0), p.Log(1))
	}
	// A's gateway stops answering its health check: A gives the VIP up.
	p.SetHealthy(0, false)
	gap := p.WaitHolder(t, 1, 15*time.Second)
	t.Logf("health check failed on A: VIP on B after %v", gap.Round(10*time.Millisecond))
	waitFor(t, "B's answers leave from the VIP, A's from its own address", func() bool { return p.SourceIsVIP(1) && !p.SourceIsVIP(0) && p.HasDefaultRoute(0) })
	// nopreempt: A healthy again does not take it back.
	p.SetHealthy(0, true)
	time.Sleep(4 * time.Second)
	if !p.Holds(1) || p.Holds(0) {
		t.Fatalf("VIP moved back to a recovered A despite nopreempt (A %v, B %v)", p.Holds(0), p.Holds(1))
	}
	// B's box freezes (keepalived killed): A takes over.
	p.Kill(1)
	gap = p.WaitHolder(t, 0, 15*time.Second)
	t.Logf("keepalived on B killed: VIP on A after %v", gap.Round(10*time.Millisecond))
}

// waitFor polls cond (keepalived's notify scripts run asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
