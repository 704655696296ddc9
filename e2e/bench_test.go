//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestBenchmarkCommand runs flespi-bench, the command behind BENCHMARKS.md,
// in each of its modes on a small workload: each must finish and print its
// table. Its runs check what they measure (every point in InfluxDB, every
// line at the null write API, every sample at the remote-write receiver),
// so a change that breaks one (the fleet events' points counted as the
// messages' lines did) fails here rather than when figures are next taken.
func TestBenchmarkCommand(t *testing.T) {
	root := filepath.Dir(testexporter.ConfigFile())
	bench := filepath.Join(t.TempDir(), "flespi-bench")
	build := exec.Command("go", "build", "-o", bench, "./testkit/flespi-bench")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testkit/flespi-bench: %v\n%s", err, out)
	}
	small := []string{"-messages", "2000", "-devices", "50", "-runs", "1", "-scrape-devices", "200"}
	// The default mode's workload is long enough in device time for the
	// fleet events to close some (their points go to InfluxDB too).
	eventful := []string{"-messages", "10000", "-devices", "100"}
	for _, mode := range []struct {
		name string
		args []string
		rows []string // that the output must hold
	}{
		{"default", eventful, []string{"exporter → InfluxDB, 4 stream(s)", "exporter ← MQTT (mosquitto), QoS 1", "exporter → null write API, 1 stream", "scrape: 200 devices, Prometheus only"}},
		{"sink delay", []string{"-sink-delay", "10ms"}, []string{"exporter → null write API answering after 10ms, 1 stream"}},
		{"remote write", []string{"-remote-write"}, []string{"exporter → remote write (VictoriaMetrics), 1 stream", "remote write over InfluxDB, CPU per message"}},
		{"events", []string{"-events"}, []string{"exporter → InfluxDB, events on", "events on over off"}},
		{"mqtt", []string{"-mqtt"}, []string{"exporter ← MQTT backlog after an outage", "MQTT over HTTP, CPU per message"}},
		{"against", []string{"-against", testexporter.Binary(t), "-against-config", testexporter.ConfigFile()}, []string{"exporter, Prometheus only, 1 stream (against)", "CPU per message (median of 1 back-to-back pairs)"}},
		{"memory", []string{"-memory", "2"}, []string{"16 batch(es) at once", "30 MQTT messages, InfluxDB down"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			cmd := exec.Command(bench, append(append([]string{}, small...), mode.args...)...)
			cmd.Dir = root // it reads config.toml there
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("flespi-bench %s: %v\n%s", strings.Join(mode.args, " "), err, out)
			}
			for _, row := range mode.rows {
				if !strings.Contains(string(out), row) {
					t.Errorf("flespi-bench %s: no %q in its output:\n%s", strings.Join(mode.args, " "), row, out)
				}
			}
		})
	}
}
