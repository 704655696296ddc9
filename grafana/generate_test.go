package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/dashboardtest"
)

// TestGeneratedDashboardUpToDate keeps the committed "all parameters"
// dashboard equal to what `flespi-exporter dashboard` makes of config.toml.
func TestGeneratedDashboardUpToDate(t *testing.T) {
	cfg := shipped(t)
	got, err := GenerateDashboard(cfg.Mapping, Options{Events: cfg.Events.Enabled})
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
	// One panel per rule that writes a field or a gauge, and the fleet
	// events' (config.toml has them on).
	var d dashboardtest.Dashboard
	if err := json.Unmarshal(got, &d); err != nil {
		t.Fatal(err)
	}
	panels, events := 0, 0
	for _, p := range d.Panels {
		switch {
		case p.Type == "row":
		case len(p.Targets) > 0 && strings.Contains(p.Targets[0].Query, `FROM "flespi_events"`):
			events++
		default:
			panels++
		}
	}
	if events != 2 || len(d.Annotations.List) != 2 {
		t.Errorf("%d panels and %d annotations of the fleet events, want 2 and 2", events, len(d.Annotations.List))
	}
	off, err := GenerateDashboard(cfg.Mapping, Options{Events: false})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(off, []byte("flespi_events")) {
		t.Error("a dashboard generated with the events off queries flespi_events")
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

// TestGeneratedPanels: panels follow their rules: grouped by the rule's
// tags, states (booleans, enums, strings) as a state timeline of the last
// value, ids and timestamps as a table, titles human, never a regex.
func TestGeneratedPanels(t *testing.T) {
	m, err := mapping.Compile(mapping.DefaultConfig(), []mapping.Rule{
		{Match: "tpms.*.pressure", Field: "tire_pressure", Tags: map[string]string{"wheel": "$1"}, Unit: "kPa"},
		{Match: "engine.ignition.status", Type: "boolean"},
		{Match: "gnss.state.enum", Type: "integer"},
		{Match: "driver.name", Type: "string"},
		{Match: "device.id", Type: "integer"},
		{Regex: `(can\.)?engine\.rpm`},
		{Match: "fuel.level", Help: "Fuel level, in percent; 0 is an empty tank."},
		{Match: "can.fuel.consumed", Unit: "liters"},
		{Match: "gsm.signal.level", Unit: "percent"},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := GenerateDashboard(m, Options{UID: "my-uid", Title: "My fleet", InfluxUID: "my-influx", PromUID: "my-prom"})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID, Title string
		Panels     []struct {
			Type, Title string
			Targets     []struct{ Query, Alias string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID != "my-uid" || d.Title != "My fleet" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	panels := map[string]string{} // title → type and query
	for _, p := range d.Panels {
		if p.Type != "row" {
			panels[p.Title] = p.Type + " " + p.Targets[0].Query + " " + p.Targets[0].Alias
		}
	}
	want := map[string][]string{
		"tpms.*.pressure":        {"timeseries ", `mean("tire_pressure")`, `GROUP BY time($__interval), "ident", "device_name", "wheel"`, "$tag_device_name ($tag_ident) $tag_wheel"},
		"engine.ignition.status": {"state-timeline ", `last("engine.ignition.status")`},
		"gnss.state.enum":        {"state-timeline ", "last("},
		"driver.name":            {"state-timeline ", "last("},
		"device.id":              {"table ", "last("},
		"can.engine.rpm":         {"timeseries ", "mean("},
		"Fuel level":             {"timeseries ", `mean("fuel.level")`},        // the help's first clause, no period
		"can.fuel.consumed":      {"timeseries ", `last("can.fuel.consumed")`}, // a counter: its last value, not a mean
	}
	if strings.Contains(string(raw), "flespi-influxdb") || !strings.Contains(string(raw), `"uid": "my-influx"`) {
		t.Error("the dashboard does not name the InfluxDB datasource given")
	}
	var rows []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
		}
	}
	if strings.Join(rows, ", ") != "Tires, Engine, GNSS, Vehicle and driver, Device, CAN bus, Fuel, GSM" {
		t.Errorf("rows %v", rows)
	}
	for title, parts := range want {
		got, ok := panels[title]
		if !ok {
			t.Errorf("no panel titled %q; panels: %v", title, panels)
			continue
		}
		for _, part := range parts {
			if !strings.Contains(got, part) {
				t.Errorf("%q: %q lacks %q", title, got, part)
			}
		}
	}
	for title := range panels {
		if strings.ContainsAny(title, `\()|^$`) {
			t.Errorf("panel title %q is a regex", title)
		}
	}
}

// TestDevicePickerByName: every dashboard's device variable lists devices
// by name (the ident standing for each), starts at the first device rather
// than the whole fleet, and the InfluxDB legends say "name (ident)".
func TestDevicePickerByName(t *testing.T) {
	for _, file := range dashboardtest.Files(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Templating struct {
				List []map[string]any `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		v := d.Templating.List[0]
		if !strings.Contains(fmt.Sprint(v["regex"]), "(?<text>") || !strings.Contains(fmt.Sprint(v["query"]), "device_name") {
			t.Errorf("%s: the device variable does not show names: %v", file, v)
		}
		if cur, _ := v["current"].(map[string]any); len(cur) != 0 {
			t.Errorf("%s: the device variable starts at %v, not at the first device", file, cur)
		}
		if strings.Contains(string(raw), `"alias": "$tag_ident`) || !strings.Contains(string(raw), `$tag_device_name ($tag_ident)`) {
			t.Errorf("%s: legends by ident alone", file)
		}
	}
}
