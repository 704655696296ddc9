//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestDeviceSilence: through the exporter's binary, on the upload clock
// (flespi's server.timestamp), a device that uploads an hour apart while
// parked gets a silence of 2 hours, one that uploads a minute apart while
// moving the 15-minute floor, a trailer that records hourly and uploads
// every 12 hours at least 12 hours, a new device the floor. /metrics
// serves the same after a restart (the rhythm is saved with the device
// registry), and after a 2-hour outage of the exporter whose catch-up
// burst arrives at once. The shipped alert compares with these.
func TestDeviceSilence(t *testing.T) {
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": ""})
	base := time.Now().Add(-3 * 24 * time.Hour).Truncate(time.Hour).Unix()
	msg := func(ident string, at, uploaded int64, params string) string {
		return fmt.Sprintf(`{"ident":%q,"timestamp":%d,"server.timestamp":%d.25%s}`, ident, at, uploaded, params)
	}
	var msgs []string
	for i := range 6 { // parked: ignition off, every hour
		at := base + int64(i)*3600
		msgs = append(msgs, msg("parked", at, at+2, `,"engine.ignition.status":false,"position.speed":0`))
	}
	for i := range 10 { // moving: every minute at 50 km/h
		at := base + int64(i)*60
		msgs = append(msgs, msg("moving", at, at+1, `,"position.speed":50`))
	}
	for u := range 5 { // recording hourly, uploading the 12 every 12 hours
		upload := base + int64(u+1)*12*3600
		for h := range 12 {
			msgs = append(msgs, msg("trailer", upload-int64(12-h)*3600, upload+int64(h), `,"position.speed":0`))
		}
	}
	msgs = append(msgs, fmt.Sprintf(`{"ident":"new","timestamp":%d}`, base))
	post1 := func(msgs []string) {
		t.Helper()
		if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte("["+strings.Join(msgs, ",")+"]"), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	post1(msgs)
	metrics := "http://" + ex.InternalAddr + "/metrics"
	want := map[string]float64{"parked": 7200, "moving": 900, "new": 900}
	check := func(when string) {
		t.Helper()
		for ident, seconds := range want {
			if got := testexporter.MetricValue(t, metrics, "flespi_device_silent_after_seconds", "ident", ident); got != seconds {
				t.Errorf("%s: %s silent after %vs, want %v", when, ident, got, seconds)
			}
		}
		if got := testexporter.MetricValue(t, metrics, "flespi_device_silent_after_seconds", "ident", "trailer"); got < 12*3600 {
			t.Errorf("%s: the 12-hour uploader is silent after %vs, want at least 12 hours", when, got)
		}
	}
	check("before a restart")
	if err := ex.Stop(); err != nil { // graceful: the registry is saved
		t.Fatal(err)
	}
	ex.Restart()
	check("after a restart")
	// The exporter was away for 2 hours: flespi kept the parked device's
	// two uploads and sends them at once.
	post1([]string{
		msg("parked", base+6*3600, base+6*3600+2, `,"engine.ignition.status":false,"position.speed":0`),
		msg("parked", base+7*3600, base+7*3600+2, `,"engine.ignition.status":false,"position.speed":0`),
	})
	check("after a catch-up burst")
}
