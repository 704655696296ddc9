package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/internal/dashboardtest"
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
	var d dashboardtest.Dashboard
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
