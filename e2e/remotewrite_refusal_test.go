//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
)

// TestRemoteWriteRefusalNarrowed: Prometheus 2.42 refuses a whole remote
// write request for one sample it cannot take: out of order without an
// out-of-order window (400), too old with one (500 "too old sample"). A
// batch of 1,000 messages of 100 devices with one device's late message
// is answered 200 within seconds, every other sample is queryable, the
// write requests stay within 2·log2(series)+2, and the late message's
// samples are in the dead-letter file. Once the window is widened on the
// same Prometheus, `import` of the (moved) file stores them; a second
// import stores nothing twice.
func TestRemoteWriteRefusalNarrowed(t *testing.T) {
	for _, c := range []struct {
		name          string
		window, wider time.Duration
		late          time.Duration // how much older than the device's newest
		answer        string
	}{
		{"no window, out of order", 0, time.Hour, 2 * time.Minute, "out of order sample"},
		{"1h window, too old", time.Hour, 4 * time.Hour, 3 * time.Hour, "too old sample"},
	} {
		t.Run(c.name, func(t *testing.T) {
			prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", RemoteWriteReceiver: true, OutOfOrder: c.window})
			writeURL := prom.URL + "/api/v1/write"
			ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": "", "REMOTE_WRITE_URL": writeURL})
			metrics := "http://" + ex.InternalAddr + "/metrics"
			start := time.Now().Add(-20 * time.Minute).Truncate(time.Second)
			// Device 7 has reported at start already.
			first := fmt.Sprintf(`[{"ident":"dev-007","timestamp":%d,"position.speed":1}]`, start.Unix())
			if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte(first), nil); code != 200 {
				t.Fatalf("%d %s", code, answer)
			}
			var msgs []string
			for i := range 10 {
				for d := range 100 {
					at := start.Add(time.Duration(1+i) * time.Second)
					msgs = append(msgs, fmt.Sprintf(`{"ident":"dev-%03d","timestamp":%d,"position.speed":%d}`, d, at.Unix(), 10*i+d))
				}
			}
			lateAt := start.Add(-c.late)
			late := fmt.Sprintf(`{"ident":"dev-007","timestamp":%d,"position.speed":99}`, lateAt.Unix())
			msgs = append(msgs[:500], append([]string{late}, msgs[500:]...)...)
			requestsBefore := testexporter.MetricValue(t, metrics, "flespi_exporter_remote_write_requests_total")
			began := time.Now()
			code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte("["+strings.Join(msgs, ",")+"]"), nil)
			if code != 200 {
				t.Fatalf("the batch: %d %s\n%s", code, answer, ex.Log())
			}
			took := time.Since(began)
			if !strings.Contains(answer, "remote_write: 2100 samples, 2 dead-lettered") {
				t.Errorf("the answer does not say what remote write refused: %s", answer)
			}
			requests := testexporter.MetricValue(t, metrics, "flespi_exporter_remote_write_requests_total") - requestsBefore
			series := 300.0 // speed, last message, last received of 100 devices
			if limit := 2*math.Log2(series) + 2; requests > limit {
				t.Errorf("%v write requests for the batch, want at most 2·log2(%v)+2 = %.1f", requests, series, limit)
			}
			t.Logf("answered 200 in %v after %v write requests", took.Round(time.Millisecond), requests)
			if took > 10*time.Second {
				t.Errorf("answered after %v", took)
			}
			speeds := func() map[string][]testprom.Point {
				return prom.Samples(`flespi_position_speed_meters_per_second[6h]`, time.Now())
			}
			got := speeds()
			for d := range 100 {
				key := fmt.Sprintf(`{__name__="flespi_position_speed_meters_per_second",ident="dev-%03d"}`, d)
				want := 10
				if d == 7 {
					want = 11 // and the first message
				}
				if n := len(got[key]); n != want {
					t.Errorf("%s: %d samples, want %d", key, n, want)
				}
			}
			dead := filepath.Join(ex.DataDir, "remote-write-dead-letters.jsonl")
			data, err := os.ReadFile(dead)
			if err != nil || strings.Count(string(data), "\n") != 2 || !strings.Contains(string(data), c.answer) ||
				!strings.Contains(string(data), fmt.Sprintf("[%d,", lateAt.UnixMilli())) {
				t.Fatalf("dead letters (%v):\n%s", err, data)
			}

			// The window widened, the moved file replayed.
			prom.SetOutOfOrder(c.wider)
			moved := filepath.Join(t.TempDir(), "replayed-1.jsonl")
			if err := os.Rename(dead, moved); err != nil {
				t.Fatal(err)
			}
			replay := func() string {
				cmd := exec.Command(testexporter.Binary(t), "import", "-config", testexporter.ConfigFile(), moved)
				cmd.Env = append(os.Environ(), "INFLUXDB_URL=", "REMOTE_WRITE_URL="+writeURL, "FLESPI_EXPORTER_DATA_DIR="+ex.DataDir,
					"FLESPI_EXPORTER_INTERNAL_LISTEN="+ex.InternalAddr) // the exporter runs: it replays
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("import: %v\n%s", err, out)
				}
				return string(out)
			}
			if out := replay(); !strings.Contains(out, "2 samples stored, 0 refused again") {
				t.Errorf("first replay:\n%s", out)
			}
			key := `{__name__="flespi_position_speed_meters_per_second",ident="dev-007"}`
			got = speeds()
			if n := len(got[key]); n != 12 || int64(got[key][0].Time) != lateAt.Unix() || got[key][0].Value != fmt.Sprint(99/3.6) {
				t.Errorf("dev-007 after the replay: %v, want 12 samples, the first %v at %d", got[key], 99/3.6, lateAt.Unix())
			}
			if out := replay(); !strings.Contains(out, "replayed already") {
				t.Errorf("second replay:\n%s", out)
			}
			if n := len(speeds()[key]); n != 12 {
				t.Errorf("dev-007 after a second replay: %d samples", n)
			}
		})
	}
}
