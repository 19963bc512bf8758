package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// manifest is the part of a Kubernetes object every manifest must have.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// load decodes every YAML document of every file in k8s/, keyed by kind.
func load(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/ (%v)", err)
	}
	byKind := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var m manifest
			if err := node.Decode(&m); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if m.APIVersion == "" || m.Kind == "" {
				t.Errorf("%s document %d lacks apiVersion or kind", f, i)
			}
			if m.Kind != "Kustomization" && m.Metadata.Name == "" {
				t.Errorf("%s document %d (%s) lacks metadata.name", f, i, m.Kind)
			}
			out, _ := yaml.Marshal(&node)
			byKind[m.Kind] = out
		}
	}
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap"} {
		if byKind[k] == nil {
			t.Errorf("no %s manifest", k)
		}
	}
	return byKind
}

func TestManifestsParse(t *testing.T) { load(t) }

// TestShutdownTimingsFit checks the drain story: probes on the right paths, and a grace period
// longer than preStop plus the configured drain window.
func TestShutdownTimingsFit(t *testing.T) {
	k := load(t)
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Grace      int `yaml:"terminationGracePeriodSeconds"`
					Containers []struct {
						Args      []string `yaml:"args"`
						Readiness struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"readinessProbe"`
						Liveness struct {
							HTTPGet struct{ Path string } `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
						Lifecycle struct {
							PreStop struct {
								Sleep struct{ Seconds int } `yaml:"sleep"`
							} `yaml:"preStop"`
						} `yaml:"lifecycle"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(k["Deployment"], &dep); err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(k["ConfigMap"], &cm); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Engine string        `yaml:"engine"`
		Drain  time.Duration `yaml:"drain"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["herald.yaml"]), &cfg); err != nil {
		t.Fatalf("herald.yaml in the ConfigMap: %v", err)
	}
	if cfg.Engine != "redis" || cfg.Drain <= 0 {
		t.Errorf("config: engine %q, drain %v", cfg.Engine, cfg.Drain)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Readiness.HTTPGet.Path != "/readyz" || c.Liveness.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %q, liveness %q", c.Readiness.HTTPGet.Path, c.Liveness.HTTPGet.Path)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "--config /etc/herald/herald.yaml") {
		t.Errorf("args %v do not load the ConfigMap's file", c.Args)
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(pod.Grace) * time.Second
	if preStop <= 0 {
		t.Error("no preStop sleep: load balancers would still send clients to a draining pod")
	}
	if grace <= preStop+cfg.Drain {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %v + drain %v", grace, preStop, cfg.Drain)
	}
}
