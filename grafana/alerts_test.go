package grafana

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
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

// ownFuelRule is the README's example: your own rule for a parameter the
// shipped configuration maps and alerts on, with your own threshold.
const ownFuelRule = `[[rule]]
match = "can.fuel.level"
unit = "percent"
help = "Fuel level of the tanker's CAN sensor."
[[rule.alert]]
name = "FleetLowFuel"
below = 15
for = "10m"
summary = "is low on fuel (own threshold)"
`

// withOwnRules loads the shipped config.toml with a rules.d of one file.
func withOwnRules(t *testing.T, own string) *config.Loaded {
	t.Helper()
	cfg, err := config.Load(testexporter.WithOwnRules(t, own))
	if err != nil {
		t.Fatalf("your own rule on a shipped parameter: %v", err)
	}
	return cfg
}

// TestOwnThresholdOnAShippedParameter: your own rule in rules.d takes
// can.fuel.level with its own alert: the configuration loads (a warning
// says the shipped alert steps aside for it), and the alert rules, their
// tests and the fleet dashboard compare with 15 %, not the shipped 10 %.
func TestOwnThresholdOnAShippedParameter(t *testing.T) {
	cfg := withOwnRules(t, ownFuelRule)
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, `FlespiLowFuel steps aside for "can.fuel.level"`) || !strings.Contains(w, "config.toml:") {
		t.Errorf("warnings:\n%s", w)
	}
	rules, tests := AlertFiles(cfg.Mapping, cfg.RelativeRuleOrigin)
	if !strings.Contains(string(rules), `"flespi_can_fuel_level_ratio < 0.15"`) || strings.Contains(string(rules), "flespi_can_fuel_level_ratio|") {
		t.Errorf("the alert rules:\n%s", rules)
	}
	if !strings.Contains(string(tests), "FleetLowFuel") {
		t.Error("no test of the own alert")
	}
	dash, _ := os.ReadFile("dashboards/flespi-fleet.json")
	_, set, err := SetThresholds(dash, cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set, "\n"); !strings.Contains(got, "below 0.15") || strings.Contains(got, "below 0.1\n") || strings.HasSuffix(got, "below 0.1") {
		t.Errorf("the dashboard's fuel column: %v", set)
	}
}

// TestShippedAlertFollowsYourRule: your own rule for a shipped parameter
// without an alert of its own: the shipped alert compares your rule's
// gauge; an own alert of a shipped alert's name replaces it.
func TestShippedAlertFollowsYourRule(t *testing.T) {
	cfg := withOwnRules(t, "[[rule]]\nmatch = \"can.fuel.level\"\nunit = \"percent\"\nhelp = \"Fuel level, own.\"\n")
	if w := strings.Join(cfg.Warnings, "\n"); !strings.Contains(w, "FlespiLowFuel follows your rule #1") {
		t.Errorf("warnings:\n%s", w)
	}
	found := false
	for _, a := range cfg.Mapping.Alerts() {
		if a.Name == "FlespiLowFuel" && strings.Contains(a.Selector(), "flespi_can_fuel_level_ratio") {
			found = true
		}
	}
	if !found {
		t.Error("the shipped alert does not compare your rule's gauge")
	}
	renamed := withOwnRules(t, strings.Replace(ownFuelRule, "FleetLowFuel", "FlespiLowFuel", 1))
	n := 0
	for _, a := range renamed.Mapping.Alerts() {
		if a.Name == "FlespiLowFuel" {
			n++
			if a.Value != 15 {
				t.Errorf("FlespiLowFuel below %v, want your 15", a.Value)
			}
		}
	}
	if n != 1 || !strings.Contains(strings.Join(renamed.Warnings, "\n"), "yours replaces this one") {
		t.Errorf("%d alerts named FlespiLowFuel; warnings %v", n, renamed.Warnings)
	}
}

// TestReachesWholeNames: an alert reaches a dashboard column that reads
// one of its gauges, by its whole name, not one that reads a longer name
// starting with it.
func TestReachesWholeNames(t *testing.T) {
	a := &mapping.Alert{Gauges: []string{"flespi_fuel"}}
	for expr, want := range map[string]bool{
		`flespi_fuel{ident=~"$device"}`:                         true,
		`min by (ident) (flespi_fuel)`:                          true,
		`flespi_fuel`:                                           true,
		`flespi_fuel_level{ident=~"$device"}`:                   false,
		`max(flespi_fuel_level) or xflespi_fuel`:                false,
		`flespi_fuel_level{ident="a"} + flespi_fuel{ident="a"}`: true,
	} {
		if got := reaches(expr, a); got != want {
			t.Errorf("reaches(%q) = %v, want %v", expr, got, want)
		}
	}
}
