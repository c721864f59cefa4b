package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLicenseLint(t *testing.T) {
	sample := filepath.Join("..", "..", "licmgr", "testdata", "licenses", "aws-nice-dcv.lic")
	var out, errb bytes.Buffer
	if code := run([]string{"license", "lint", sample}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (an unpinned ISV line)\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{sample + ":2: error: ISV nice has no port=", "    fix: ISV nice port=5055", "rlm: 1 error(s) (rlm 5053, nice unpinned)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The fixed file passes, and the config's license_file is linted without FILE.
	dir := t.TempDir()
	data, _ := os.ReadFile(sample)
	fixed := strings.Replace(string(data), "ISV nice\n", "ISV nice port=5055\n", 1)
	os.WriteFile(filepath.Join(dir, "nice.lic"), []byte(fixed), 0o600)
	cfg := filepath.Join(dir, "licgate.yaml")
	os.WriteFile(cfg, []byte("state_dir: "+dir+"\ntunnel:\n  endpoint: x\nservices:\n  - name: dcv\n    type: rlm\n    upstream: 192.168.1.10\n    license_file: nice.lic\n"), 0o600)
	out.Reset()
	if code := run([]string{"license", "lint", "-c", cfg}, &out, &errb); code != 0 {
		t.Fatalf("fixed file: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "nice.lic: rlm: ok (rlm 5053, nice 5055)") {
		t.Errorf("fixed file output:\n%s", out.String())
	}

	out.Reset()
	if code := run([]string{"license", "lint", "--manager", "codemeter", sample}, &out, &errb); code != 2 {
		t.Errorf("--manager codemeter: exit %d, want 2", code)
	}
}
