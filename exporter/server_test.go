package exporter

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/config"
)

func loadDefault(t *testing.T) *config.Loaded {
	t.Helper()
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("config.toml", string(data), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServe starts the server on a free port, reads its endpoints, and stops
// it the way SIGTERM does.
func TestServe(t *testing.T) {
	cfg := loadDefault(t)
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "v0.0.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, &Listeners{HTTP: ln}) }()
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
	promtoolCheck(t, metrics)

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

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}
