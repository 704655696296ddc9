// Package dashboardtest reads the Grafana dashboards and makes test data
// that fills them, for the dashboard tests of both tiers (grafana/ checks
// the files, e2e/ runs their queries against real servers).
package dashboardtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// root is the repository, found from this file.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Files returns the dashboards of grafana/dashboards.
func Files(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(), "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	return files
}

// Dashboard is the part of a Grafana dashboard the tests read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string      `json:"name"`
			Query      string      `json:"query"`
			Regex      string      `json:"regex"`
			Datasource *Datasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string      `json:"name"`
			Query      string      `json:"query"` // InfluxQL
			Datasource *Datasource `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

// Panel is a panel of a dashboard.
type Panel struct {
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
}

// Target is a query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Datasource *Datasource `json:"datasource"`
	Query      string      `json:"query"` // InfluxQL
	Expr       string      `json:"expr"`  // PromQL
}

// Datasource names a datasource by type and uid.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Read reads a dashboard file.
func Read(t testing.TB, file string) Dashboard {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// EveryParameter is a message with a value for every rule of config.toml
// that names its parameters (its example name) and every parameter of
// parameters.tsv, typed as the rule or the list says, so that every panel of
// the generated dashboard has data.
func EveryParameter(t testing.TB) []byte {
	t.Helper()
	cfg, err := config.Load(filepath.Join(root(), "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	msg := map[string]any{"ident": "every-parameter", "timestamp": 1717171200, "device.name": "test bench"}
	value := map[string]any{"boolean": true, "string": "text", "integer": 7, "float": 1.5}
	for _, r := range cfg.Mapping.Rules() {
		if v, ok := value[r.Type]; ok && r.Example != "" {
			msg[r.Example] = v
		}
	}
	tsv, err := os.ReadFile(filepath.Join(root(), "testdata", "parameters.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(tsv), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 || strings.HasPrefix(line, "#") || f[0] == "name" || strings.ContainsAny(f[0], "(*") {
			continue
		}
		if _, set := msg[f[0]]; set {
			continue
		}
		switch {
		case strings.HasPrefix(f[1], "number"):
			msg[f[0]] = 2
		case strings.HasPrefix(f[1], "boolean"):
			msg[f[0]] = false
		case strings.HasPrefix(f[1], "string"):
			msg[f[0]] = "x"
		}
	}
	b, err := json.Marshal([]any{msg})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
