package exporter_test

import (
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// startExporterAt is startExporter with the clock now.
func startExporterAt(t *testing.T, influxURL string, env map[string]string, change func(*config.Loaded), now func() time.Time) *testexporter.InProcess {
	t.Helper()
	return testexporter.StartInProcess(t, testexporter.Options{InfluxURL: influxURL, Env: env, Change: change, Now: now})
}

// gaugeTTL sets [mapping].gauge_ttl, as the file would ("1h").
func gaugeTTL(t *testing.T, ttl string) func(*config.Loaded) {
	return func(c *config.Loaded) {
		if err := c.Config.Mapping.GaugeTTL.UnmarshalText([]byte(ttl)); err != nil {
			t.Fatal(err)
		}
	}
}
