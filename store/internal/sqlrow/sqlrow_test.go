package sqlrow

import (
	"strings"
	"testing"
)

// TestDialectSpellsEveryStatement: PostgreSQL gets $1..$n in order and
// byte-order collation; SQLite keeps ? and no collation; no statement is
// left with a {C} or, for PostgreSQL, a ?.
func TestDialectSpellsEveryStatement(t *testing.T) {
	pg := Dialect{Numbered: true, Collate: ` COLLATE "C"`}
	if got, want := pg.SQL(`SELECT a FROM t WHERE x = ? AND y = ? ORDER BY a{C}`), `SELECT a FROM t WHERE x = $1 AND y = $2 ORDER BY a COLLATE "C"`; got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	if got, want := (Dialect{}).SQL(`SELECT a FROM t WHERE x = ? ORDER BY a{C}`), `SELECT a FROM t WHERE x = ? ORDER BY a`; got != want {
		t.Errorf("sqlite: %q, want %q", got, want)
	}
	all := append([]string{QueryUser, QueryUsers, QueryUserID, QueryDevices, QueryDevicesAct, QueryDevice, QueryAddrUse,
		InsertDevice, RevokeDevice, RekeyDevice, SetUserOff, SetUserExpiry, SetDeviceExpry, QuerySessions, QueryDenials,
		QueryEvents, QueryDDNSAddr, SetDDNSAddr, QueryHold, SetHold, ClearHold, CountState, CountActive, InsertLink,
		QueryLink, ClaimLink}, PruneAudit...)
	for _, q := range all {
		for _, d := range []Dialect{pg, {}} {
			s := d.SQL(q)
			if strings.Contains(s, "{C}") || (d.Numbered && strings.Contains(s, "?")) {
				t.Errorf("%+v left %q", d, s)
			}
		}
	}
}
