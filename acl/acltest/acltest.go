// Package acltest generates policies for benchmarks of package acl.
package acltest

import (
	"fmt"
	"strings"
)

// BigPolicy builds users and rules for benchmarks: groups of 100 users,
// rules alternating allow/deny over groups, users and devices, with hours.
func BigPolicy(users, rules int) string {
	var b strings.Builder
	b.WriteString("timezone: Europe/Berlin\ngroups:\n")
	groups := users / 100
	for g := 0; g < groups; g++ {
		fmt.Fprintf(&b, "  g%d: [", g)
		for u := 0; u < 100; u++ {
			if u > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "u%d", g*100+u)
		}
		b.WriteString("]\n")
	}
	b.WriteString("rules:\n")
	for r := 0; r < rules; r++ {
		switch r % 4 {
		case 0:
			fmt.Fprintf(&b, "  - {action: deny, who: [user:u%d], services: [codemeter]}\n", (r*37)%users)
		case 1:
			fmt.Fprintf(&b, "  - {action: allow, who: [group:g%d], hours: [\"Mon-Fri 07:00-19:00\"], max_sessions_per_user: 2}\n", r%groups)
		case 2:
			fmt.Fprintf(&b, "  - {action: deny, who: [device:u%d/pc], until: 2027-01-01}\n", (r*91)%users)
		case 3:
			fmt.Fprintf(&b, "  - {action: allow, who: [group:g%d, user:u%d], services: [codemeter], from: 2026-01-01}\n", (r*7)%groups, (r*13)%users)
		}
	}
	b.WriteString("  - {action: allow, who: [\"*\"], services: [flexlm]}\n")
	return b.String()
}
