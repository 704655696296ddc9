//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
)

// TestRealPrometheusScrape: a real Prometheus scrapes the exporter after the
// samples are posted, and PromQL returns the gauges with their ident labels
// and values, and the silent-device expression works.
func TestRealPrometheusScrape(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	ex.PostSamples(t)
	prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", Targets: []string{strings.TrimPrefix(ex.InternalURL, "http://")}})
	got := map[string]string{}
	for _, s := range prom.WaitFor(`flespi_position_speed_meters_per_second`, 5) {
		got[s.Metric["ident"]+" "+s.Metric["device_name"]] = s.Value[1].(string)
	}
	want := map[string]string{
		"352093081234567 truck-07": "17.5",
		"4764252939 FVO118":        "13.055555555555555",
		"605630 ":                  "0",
		"111115555599999 Vehicle":  "0",
		"350317172663183 CB500F":   "0",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("speed of %q = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// "Device silent for 15 minutes" as an alert would write it: the
	// samples' device times are years old, but for the one without any
	// timestamp, which is stamped with its arrival (now).
	silent := prom.Query(`time() - flespi_device_last_message_timestamp_seconds > 15 * 60`)
	if len(silent) != 5 {
		t.Errorf("silent devices: %d, want 5: %+v", len(silent), silent)
	}
	for _, s := range silent {
		if s.Metric["ident"] == "111115555599999" {
			t.Errorf("the device that just sent is silent: %+v", s)
		}
	}
	temp := prom.Query(`flespi_ble_sensor_temperature_celsius{sensor="1"}`)
	if len(temp) != 1 || temp[0].Metric["ident"] != "352093081234567" || temp[0].Value[1] != "-18.2" {
		t.Errorf("BLE temperature: %+v", temp)
	}
}

// TestMetricsPassPromtool: /metrics after the samples, device gauges and
// the exporter's own metrics, passes promtool check metrics.
func TestMetricsPassPromtool(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	ex.PostSamples(t)
	promtoolCheck(t, testexporter.Get(t, ex.InternalURL+"/metrics"))
}
