package exporter_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestServe starts the server on a free port, reads its endpoints, and stops
// it the way SIGTERM does.
func TestServe(t *testing.T) {
	cfg := testexporter.LoadDefault(t)
	reg := prometheus.NewRegistry()
	srv, err := exporter.New(cfg, exporter.Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "v0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, &exporter.Listeners{HTTP: ln}) }()
	base := "http://" + ln.Addr().String()

	for path, want := range map[string]string{
		"/-/healthy": "OK\n",
		"/-/ready":   "OK\n",
	} {
		if body := get(t, base+path); body != want {
			t.Errorf("%s = %q, want %q", path, body, want)
		}
	}
	metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`flespi_exporter_build_info{version="v0.0.0-test"} 1`,
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

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}
