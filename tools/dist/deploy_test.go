package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/licgate/licgate/service"
)

// No container engine runs on the build machines (docker is only a client
// there): these tests hold the container files to each other and to dist's
// names with a YAML parser and plain text checks. Whether the image builds
// and starts is for a machine with Docker.

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestCompose(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Command   []string `yaml:"command"`
			DependsOn []string `yaml:"depends_on"`
			Ports     []string `yaml:"ports"`
			Volumes   []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	readYAML(t, "../../docker-compose.yml", &compose)
	lg, ok := compose.Services["licgate"]
	if !ok {
		t.Fatal("docker-compose.yml has no licgate service")
	}
	if lg.Build.Dockerfile != "deploy/Dockerfile" || lg.Build.Context != "." {
		t.Errorf("licgate build %+v", lg.Build)
	}
	if _, err := os.Stat("../../" + lg.Build.Dockerfile); err != nil {
		t.Error(err)
	}
	linux := service.PathsFor("linux")
	vols := strings.Join(lg.Volumes, "\n")
	if !strings.Contains(vols, "./deploy/compose.yaml:"+linux.Config+":ro") {
		t.Errorf("deploy/compose.yaml is not mounted at %s: %q", linux.Config, lg.Volumes)
	}
	if !regexp.MustCompile(`(?m)^[\w-]+:` + regexp.QuoteMeta(linux.StateDir) + `$`).MatchString(vols) {
		t.Errorf("no named volume at %s: %q", linux.StateDir, lg.Volumes)
	}
	for _, v := range lg.Volumes {
		if name, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(name, ".") {
			if _, ok := compose.Volumes[name]; !ok {
				t.Errorf("volume %s not declared", name)
			}
		}
	}
	if strings.Join(lg.Ports, " ") != "51820:51820/udp" {
		t.Errorf("ports %q", lg.Ports)
	}

	// deploy/compose.yaml is the licgate config the compose file mounts.
	var cfg struct {
		StateDir string `yaml:"state_dir"`
		Services []struct {
			Name     string `yaml:"name"`
			Port     int    `yaml:"port"`
			Upstream string `yaml:"upstream"`
		} `yaml:"services"`
	}
	readYAML(t, "../../deploy/compose.yaml", &cfg)
	if cfg.StateDir != linux.StateDir {
		t.Errorf("compose config state_dir %q, want the image's volume %s", cfg.StateDir, linux.StateDir)
	}
	if len(cfg.Services) == 0 {
		t.Fatal("compose config has no services")
	}
	for _, s := range cfg.Services {
		host, _, _ := strings.Cut(s.Upstream, ":")
		if _, ok := compose.Services[host]; !ok {
			t.Errorf("service %s upstream %s: no compose service %q", s.Name, s.Upstream, host)
		}
	}
	if lg.DependsOn == nil || lg.DependsOn[0] != "licsim" {
		t.Errorf("licgate depends_on %q", lg.DependsOn)
	}
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	m := regexp.MustCompile(`(?m)^COPY (dist/\S+) /licgate$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no COPY dist/... /licgate in the dist stage")
	}
	// BuildKit's TARGETARCH and TARGETVARIANT for the three Linux images.
	for _, tc := range []struct {
		arch, variant string
		target        Target
	}{
		{"amd64", "", Target{GOOS: "linux", GOARCH: "amd64"}},
		{"arm64", "", Target{GOOS: "linux", GOARCH: "arm64"}},
		{"arm", "v7", Target{GOOS: "linux", GOARCH: "arm", GOARM: "7"}},
	} {
		got := strings.NewReplacer("${TARGETARCH}", tc.arch, "${TARGETVARIANT}", tc.variant).Replace(m[1])
		if want := "dist/" + tc.target.BinaryName(""); got != want {
			t.Errorf("image for %s/%s copies %s, dist writes %s", tc.arch, tc.variant, got, want)
		}
	}
	linux := service.PathsFor("linux")
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot AS dist\n",
		"VOLUME " + linux.StateDir + "\n",
		`CMD ["serve", "-c", "` + linux.Config + `"]`,
		"USER nonroot\n",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The last stage (the default target) must also be a complete image.
	last := df[strings.LastIndex(df, "\nFROM "):]
	if !strings.Contains(last, "ENTRYPOINT [\"/licgate\"]") || !strings.Contains(last, "USER nonroot") {
		t.Errorf("default stage incomplete:\n%s", last)
	}
}

// TestExampleConfig: the example parses as YAML and keeps the state_dir line
// the .ipk rewrites to flash.
func TestExampleConfig(t *testing.T) {
	var cfg map[string]any
	readYAML(t, "../../deploy/licgate.example.yaml", &cfg)
	if cfg["state_dir"] != service.PathsFor("linux").StateDir {
		t.Errorf("state_dir %v", cfg["state_dir"])
	}
	b, _ := os.ReadFile("../../deploy/licgate.example.yaml")
	if !strings.Contains(string(b), "state_dir: /var/lib/licgate ") {
		t.Error("packageInfo's ipk rewrite no longer finds `state_dir: /var/lib/licgate `")
	}
}
