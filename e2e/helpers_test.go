//go:build e2e

package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
)

// Package e2e holds the process-level tests: the real binary and real
// services (InfluxDB 1.8, Prometheus and promtool, Chromium). They build
// with the tag e2e and fail, never skip, when a tool is missing:
// scripts/test.sh installs them and runs this tier after the unit tests.

// The helpers of this package's tests, over internal/testexporter.

// startExporter runs the repository's config.toml in process against
// influxURL ("" for none), with environment variables from env, and with
// override, a line "key = value" that replaces the line of that key.
func startExporter(t *testing.T, influxURL string, env map[string]string, override string) *testexporter.InProcess {
	t.Helper()
	return testexporter.StartInProcess(t, testexporter.Options{InfluxURL: influxURL, Env: env, Override: override})
}

// startExporterAt is startExporter with the clock now.
func startExporterAt(t *testing.T, influxURL string, env map[string]string, override string, now func() time.Time) *testexporter.InProcess {
	t.Helper()
	return testexporter.StartInProcess(t, testexporter.Options{InfluxURL: influxURL, Env: env, Override: override, Now: now})
}

var (
	post    = testexporter.Post
	get     = testexporter.Get
	samples = testexporter.Samples
)

func metricValue(t *testing.T, ex *testexporter.InProcess, name string, labels ...string) float64 {
	t.Helper()
	return ex.MetricValue(t, name, labels...)
}

// promtoolCheck runs `promtool check metrics` over an exposition. promtool
// comes from Debian's prometheus package, which scripts/test.sh installs.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run the tests with scripts/test.sh, which installs it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
