package grafana

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDashboardThresholdsFollowAlerts: the fleet table colours a device
// at the same numbers the alert rules fire at, and its "of its silence"
// column reads the gauges the silent-device alert compares, turning red
// where it fires (100 %). Change a threshold in alerts.yml and this test
// names the dashboard cell to change with it.
func TestDashboardThresholdsFollowAlerts(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	exprs := map[string]string{}
	for _, file := range []string{"prometheus/alerts.yml", "prometheus/" + RuleAlertsFile} {
		readYAML(t, file, &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				exprs[r.Alert] = r.Expr
			}
		}
	}
	columns, targets := fleetTable(t)
	silent := exprs["FlespiDeviceSilent"]
	for _, gauge := range []string{"flespi_device_last_received_timestamp_seconds", "flespi_device_silent_after_seconds"} {
		if !strings.Contains(silent, gauge) || !strings.Contains(targets["of its silence"], gauge) {
			t.Errorf("FlespiDeviceSilent (%s) and the \"of its silence\" column (%s) do not both read %s", silent, targets["of its silence"], gauge)
		}
	}
	if columns["of its silence"] != 1 {
		t.Errorf("the \"of its silence\" column turns red at %v, not at 100 %% where FlespiDeviceSilent fires", columns["of its silence"])
	}
	for _, c := range []struct {
		alert, column, gauge string
	}{
		{"FlespiExternalPowerLost", "external power", "flespi_external_powersource_voltage_volts"},
		{"FlespiLowBattery", "battery", "flespi_battery_voltage_volts"},
		{"FlespiLowFuel", "fuel", `{__name__=~"flespi_can_fuel_level_ratio|flespi_fuel_level_ratio"}`},
	} {
		expr, ok := exprs[c.alert]
		if !ok {
			t.Errorf("alerts.yml has no %s", c.alert)
			continue
		}
		threshold := alertThreshold(t, expr)
		if got := columns[c.column]; got != threshold {
			t.Errorf("%s fires at %v, but the dashboard's %q column changes colour at %v", c.alert, threshold, c.column, got)
		}
		if !strings.Contains(expr, c.gauge) || !strings.Contains(targets[c.column], c.gauge) {
			t.Errorf("%s (%s) and the %q column (%s) do not both read %s", c.alert, expr, c.column, targets[c.column], c.gauge)
		}
	}
}

// alertThreshold is the number an alert expression compares with: the
// last one after < or >, with a product like 15 * 60 worked out.
func alertThreshold(t *testing.T, expr string) float64 {
	t.Helper()
	m := regexp.MustCompile(`[<>]\s*([0-9.]+)(?:\s*\*\s*([0-9.]+))?\s*'?$`).FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		t.Fatalf("no threshold in %q", expr)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	if m[2] != "" {
		f, _ := strconv.ParseFloat(m[2], 64)
		v *= f
	}
	return v
}

// fleetTable returns, for each column of the fleet dashboard's Devices
// table, the first threshold step (where "bad" ends), and its query.
func fleetTable(t *testing.T) (thresholds map[string]float64, targets map[string]string) {
	t.Helper()
	raw, err := os.ReadFile("dashboards/flespi-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
			FieldConfig struct {
				Overrides []struct {
					Matcher struct {
						Options string `json:"options"`
					} `json:"matcher"`
					Properties []struct {
						ID    string          `json:"id"`
						Value json.RawMessage `json:"value"`
					} `json:"properties"`
				} `json:"overrides"`
			} `json:"fieldConfig"`
			Transformations []struct {
				ID      string `json:"id"`
				Options struct {
					RenameByName map[string]string `json:"renameByName"`
				} `json:"options"`
			} `json:"transformations"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	thresholds, targets = map[string]float64{}, map[string]string{}
	for _, p := range d.Panels {
		if p.Title != "Devices" {
			continue
		}
		names := map[string]string{}
		for _, tr := range p.Transformations {
			for k, v := range tr.Options.RenameByName {
				names[k] = v
			}
		}
		for _, tg := range p.Targets {
			targets[names["Value #"+tg.RefID]] = tg.Expr
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, pr := range o.Properties {
				var th struct {
					Steps []struct {
						Value *float64 `json:"value"`
					} `json:"steps"`
				}
				if pr.ID == "thresholds" && json.Unmarshal(pr.Value, &th) == nil && len(th.Steps) > 1 && th.Steps[1].Value != nil {
					thresholds[o.Matcher.Options] = *th.Steps[1].Value
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Fatal("no Devices table in the fleet dashboard")
	}
	return thresholds, targets
}
