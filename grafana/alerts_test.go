package grafana

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// shipped is the repository's config.toml.
func shipped(t *testing.T) *config.Loaded {
	t.Helper()
	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestShippedAlertsAreTheRules: the shipped alert rules, their tests and
// the fleet dashboard's thresholds are what the shipped rules make
// (`flespi-exporter alerts`): a threshold changed on a rule and not
// regenerated, or a generated file edited by hand, fails here.
func TestShippedAlertsAreTheRules(t *testing.T) {
	cfg := shipped(t)
	rules, tests := AlertFiles(cfg.Mapping, cfg.RelativeRuleOrigin)
	dash, err := os.ReadFile("dashboards/flespi-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	regenerated, _, err := SetThresholds(dash, cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]byte{
		"prometheus/" + RuleAlertsFile: rules, "prometheus/" + RuleAlertsTestFile: tests, "dashboards/flespi-fleet.json": regenerated,
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("grafana/%s is not what the rules make: run flespi-exporter alerts -config config.toml", file)
		}
	}
}

// TestChangedThresholdChangesAll: one threshold changed on a rule changes
// the alert, the dashboard's colour and the test together.
func TestChangedThresholdChangesAll(t *testing.T) {
	text, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(text), "below = 3.5\n", "below = 3.6\n", 1)
	if changed == string(text) {
		t.Fatal("config.toml has no battery threshold of 3.5")
	}
	cfg, err := config.Parse(filepath.Join("..", "config.toml"), changed, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rules, tests := AlertFiles(cfg.Mapping, cfg.RelativeRuleOrigin)
	dash, _ := os.ReadFile("dashboards/flespi-fleet.json")
	regenerated, set, err := SetThresholds(dash, cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), `"flespi_battery_voltage_volts < 3.6"`) {
		t.Error("the alert rule does not compare with 3.6")
	}
	if !strings.Contains(string(tests), "flespi_battery_voltage_volts{ident=\"past-0\"}'\n        values: '3.24x13'") ||
		!strings.Contains(string(tests), "values: '3.6x13'") {
		t.Errorf("the test does not follow 3.6:\n%s", tests)
	}
	if !strings.Contains(strings.Join(set, "\n"), `"battery": below 3.6`) || !bytes.Contains(regenerated, []byte(`"value": 3.6`)) {
		t.Errorf("the dashboard does not colour the battery at 3.6: %v", set)
	}
}
