package acl

import (
	"strings"
	"testing"
)

// TestZoneErrorNeverSuggestsTheRefusedName: a refused timezone is never
// answered with itself as the example.
func TestZoneErrorNeverSuggestsTheRefusedName(t *testing.T) {
	for _, name := range []string{"europe/berlin", "Mars/Olympus"} {
		pol, err := Parse("p.yaml", []byte("timezone: "+name+"\nrules: []\n"))
		if err == nil {
			_, _, err = Compile(pol, nil)
		}
		if err == nil {
			t.Fatalf("timezone %s accepted", name)
		}
		msg := err.Error()
		if strings.Count(strings.ToLower(msg), strings.ToLower(name)) != 1 || !strings.Contains(msg, "p.yaml:1") {
			t.Errorf("timezone %s: %v", name, err)
		}
	}
}
