package ifwatch

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/licgate/licgate/ddns/ddnstest"
)

type seenEvent struct {
	e        ifEvent
	relevant bool
}

// The real netlink path in a namespace of its own: veth pairs coming up and addresses on them are no change until the
// uplink holds the default route; then its address and state count.
func TestWatchNetlinkInNamespace(t *testing.T) {
	ddnstest.NeedRoot(t)
	ipCmd := ddnstest.Need(t, "ip")
	ns := fmt.Sprintf("acl-ddns-w%d", os.Getpid()%100000)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipCmd, append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command(ipCmd, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", ns).Run() })

	// Open the watch inside the namespace, on a thread that dies after.
	type opened struct {
		w   *ifWatch
		err error
	}
	res := make(chan opened)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			res <- opened{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			res <- opened{nil, err}
			return
		}
		w, err := openWatch(testPublic)
		res <- opened{w, err}
	}()
	o := <-res
	if o.err != nil {
		t.Fatal(o.err)
	}
	seen := make(chan seenEvent, 1024)
	signals := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { o.w.run(signals, func(e ifEvent, r bool) { seen <- seenEvent{e, r} }); close(done) }()
	t.Cleanup(func() { o.w.f.Close(); <-done })

	irrelevant := 0
	// next waits for the next relevant event and checks it is the one
	// the step caused; everything before it must have been irrelevant.
	next := func(step string, ok func(ifEvent) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second) // a failure bound, not a synchronisation
		for {
			select {
			case s := <-seen:
				if !s.relevant {
					irrelevant++
					continue
				}
				if !ok(s.e) {
					t.Fatalf("%s: first relevant event is %+v", step, s.e)
				}
				return
			case <-deadline:
				t.Fatalf("%s: no relevant event", step)
			}
		}
	}
	ip("link", "set", "lo", "up")
	ip("link", "add", "acl-ddns-v0", "type", "veth", "peer", "name", "acl-ddns-v1")
	ip("addr", "add", "172.30.0.1/24", "dev", "acl-ddns-v0")
	ip("addr", "add", "172.30.0.2/24", "dev", "acl-ddns-v1")
	ip("link", "set", "acl-ddns-v0", "up")
	ip("link", "set", "acl-ddns-v1", "up")
	// The uplink is a veth too (no dummy module here): what makes it the
	// uplink is the default route, not its kind or name.
	ip("link", "add", "acl-ddns-d0", "type", "veth", "peer", "name", "acl-ddns-d1")
	ip("link", "set", "acl-ddns-d1", "up")
	ip("addr", "add", "10.99.0.10/24", "dev", "acl-ddns-d0")
	ip("link", "set", "acl-ddns-d0", "up")
	ip("route", "add", "default", "via", "10.99.0.1", "dev", "acl-ddns-d0")
	next("default route", func(e ifEvent) bool { return e.kind == evRoute && e.defaultRoute && !e.del })
	if irrelevant < 8 {
		t.Errorf("only %d irrelevant events before the default route: the veth and dummy set-up was not seen", irrelevant)
	}
	ip("addr", "add", "10.99.0.11/24", "dev", "acl-ddns-d0")
	next("uplink address", func(e ifEvent) bool { return e.kind == evAddr && e.addr.String() == "10.99.0.11" })
	ip("addr", "add", "172.30.0.9/24", "dev", "acl-ddns-v0")
	ip("link", "set", "acl-ddns-v1", "down")
	ip("link", "set", "acl-ddns-d0", "down")
	next("uplink down", func(e ifEvent) bool { return e.kind == evLink && !e.up })
	ip("addr", "add", "198.51.100.7/32", "dev", "acl-ddns-v1")
	next("public address on a veth", func(e ifEvent) bool { return e.kind == evAddr && e.addr.String() == "198.51.100.7" })
	select {
	case <-signals:
	default:
		t.Fatal("relevant events did not signal")
	}
	t.Logf("%d irrelevant events ignored", irrelevant)
}
