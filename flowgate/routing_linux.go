//go:build linux

package flowgate

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

const ipForward = "/proc/sys/net/ipv4/ip_forward"

// Setup turns IPv4 forwarding on and installs r's masquerade rules (with
// the nft command). teardown removes the rules and puts ip_forward back
// as it was; it is safe to call more than once.
func (r Routing) Setup() (teardown func() error, err error) {
	old, err := os.ReadFile(ipForward)
	if err != nil {
		return nil, fmt.Errorf("flowgate: read %s: %w", ipForward, err)
	}
	if err := os.WriteFile(ipForward, []byte("1\n"), 0o644); err != nil {
		return nil, fmt.Errorf("flowgate: enable IPv4 forwarding (needs CAP_NET_ADMIN; or run: sysctl -w net.ipv4.ip_forward=1): %w", err)
	}
	restore := func() error {
		if strings.TrimSpace(string(old)) == "1" {
			return nil
		}
		if err := os.WriteFile(ipForward, old, 0o644); err != nil {
			return fmt.Errorf("flowgate: restore %s: %w", ipForward, err)
		}
		return nil
	}
	script := r.Script()
	if script != "" {
		if err := nft(script); err != nil {
			restore()
			return nil, err
		}
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		var err error
		if script != "" {
			err = nft(fmt.Sprintf("add table ip %s\ndelete table ip %s\n", Table, Table))
		}
		if rerr := restore(); err == nil {
			err = rerr
		}
		return err
	}, nil
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("flowgate: nft (masquerade for source: gateway; is the nftables package installed?): %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
