//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestDeviceSilence: through the exporter's binary, a device that reports
// an hour apart while parked gets a silence of 2 hours, one that reports a
// minute apart while moving the 15-minute floor, a new device the floor;
// /metrics serves the same after a restart (the rhythm is saved with the
// device registry). The shipped alert compares with these.
func TestDeviceSilence(t *testing.T) {
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": ""})
	var msgs []string
	night := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC).Unix()
	for i := range 6 { // parked: ignition off, every hour
		msgs = append(msgs, fmt.Sprintf(`{"ident":"parked","timestamp":%d,"engine.ignition.status":false,"position.speed":0}`, night+int64(i)*3600))
	}
	for i := range 10 { // moving: every minute at 50 km/h
		msgs = append(msgs, fmt.Sprintf(`{"ident":"moving","timestamp":%d,"position.speed":50}`, night+int64(i)*60))
	}
	msgs = append(msgs, fmt.Sprintf(`{"ident":"new","timestamp":%d}`, night))
	if code, answer := post(t, "http://"+ex.Addr+"/flespi", []byte("["+strings.Join(msgs, ",")+"]"), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	metrics := "http://" + ex.InternalAddr + "/metrics"
	want := map[string]float64{"parked": 7200, "moving": 900, "new": 900}
	check := func(when string) {
		t.Helper()
		for ident, seconds := range want {
			if got := testexporter.MetricValue(t, metrics, "flespi_device_silent_after_seconds", "ident", ident); got != seconds {
				t.Errorf("%s: %s silent after %vs, want %v", when, ident, got, seconds)
			}
		}
	}
	check("before a restart")
	if err := ex.Stop(); err != nil { // graceful: the registry is saved
		t.Fatal(err)
	}
	ex.Restart()
	check("after a restart")
}
