package exporter_test

import (
	"sync"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
)

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

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
