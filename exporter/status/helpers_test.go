package status_test

import (
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// The short names of this package's tests for testkit/testexporter's helpers.
var (
	startExporter = testexporter.StartWith
	post          = testexporter.Post
	get           = testexporter.Get
	samples       = testexporter.Samples
)

// startExporterAt is startExporter with the clock now.
func startExporterAt(t *testing.T, influxURL string, env map[string]string, override string, now func() time.Time) *testexporter.InProcess {
	t.Helper()
	return testexporter.StartInProcess(t, testexporter.Options{InfluxURL: influxURL, Env: env, Override: override, Now: now})
}
