package exporter_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestServe starts the server on a free port and reads its endpoints; it
// stops when the test ends, and Run must return no error then.
func TestServe(t *testing.T) {
	cfg := testexporter.LoadDefault(t)
	ex := testexporter.Run(t, cfg, nil)
	base, reg := ex.InternalURL, ex.Registry

	for path, want := range map[string]string{
		"/-/healthy": "OK\n",
		"/-/ready":   "OK\n",
	} {
		if body := testexporter.Get(t, base+path); body != want {
			t.Errorf("%s = %q, want %q", path, body, want)
		}
	}
	metrics := testexporter.Get(t, base+"/metrics")
	for _, want := range []string{
		`flespi_exporter_build_info{version="test"} 1`,
		"flespi_exporter_config_rules " + strconv.Itoa(len(cfg.Mapping.Rules())),
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", err, problems)
	}
}
