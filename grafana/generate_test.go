package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// TestGeneratedDashboardUpToDate keeps the committed "all parameters"
// dashboard equal to what `flespi-exporter dashboard` makes of config.toml.
func TestGeneratedDashboardUpToDate(t *testing.T) {
	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := GenerateDashboard(cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("dashboards/flespi-all-parameters.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("grafana/dashboards/flespi-all-parameters.json is not what config.toml generates; run\n" +
			"  go run ./cmd/flespi-exporter dashboard -config config.toml -o grafana/dashboards/flespi-all-parameters.json")
	}
	// One panel per rule that writes a field or a gauge.
	var d dashboard
	if err := json.Unmarshal(got, &d); err != nil {
		t.Fatal(err)
	}
	panels := 0
	for _, p := range d.Panels {
		if p.Type != "row" {
			panels++
		}
	}
	rules := 0
	for _, r := range cfg.Mapping.Rules() {
		if !r.Drop && (r.Field != "" || r.Gauge != "") {
			rules++
		}
	}
	if panels != rules {
		t.Errorf("%d panels for %d rules with an output", panels, rules)
	}
}

// everyParameter is a message with a value for every rule of config.toml
// that names its parameters (its example name) and every parameter of
// parameters.tsv, typed as the rule or the list says, so that every panel of
// the generated dashboard has data.
func everyParameter(t *testing.T) []byte {
	t.Helper()
	cfg, err := config.Load("../config.toml")
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
	tsv, err := os.ReadFile("../testdata/parameters.tsv")
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
