// Package testprom runs a real Prometheus server for tests, from Debian's
// prometheus package (scripts/install-test-deps.sh installs it), on a free
// loopback port with a temporary configuration and storage.
package testprom

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// Server is a running Prometheus.
type Server struct {
	URL   string
	t     tb.T
	dir   string
	cmd   *exec.Cmd        // the process, for Stop, Restart and reloads
	start func() *exec.Cmd // starts it (VictoriaMetrics)
	conf  Config           // Prometheus' configuration
}

// Config says what the test Prometheus scrapes and evaluates.
type Config struct {
	MetricsPath string   // "/metrics"
	Targets     []string // host:port
	RuleFiles   []string // absolute paths of rule files, evaluated every second
	// RemoteWriteReceiver takes remote write at /api/v1/write, with an
	// out-of-order window of OutOfOrder (samples up to that much older
	// than a series' newest are taken).
	RemoteWriteReceiver bool
	OutOfOrder          time.Duration
}

// Start runs Prometheus scraping the targets every second; it is stopped by
// t.Cleanup.
func Start(t tb.T, c Config) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run the tests with scripts/test.sh, which installs it")
	}
	dir := t.TempDir()
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(c.yaml()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := tb.FreeAddr(t)
	s := &Server{URL: "http://" + addr, t: t, dir: dir, conf: c}
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--config.file=" + confFile, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr}
	if c.RemoteWriteReceiver {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("prometheus did not become ready:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// yaml is the configuration file.
func (c Config) yaml() string {
	targets, _ := json.Marshal(c.Targets)
	rules, _ := json.Marshal(c.RuleFiles)
	storage := ""
	if c.OutOfOrder > 0 {
		storage = fmt.Sprintf("storage:\n  tsdb:\n    out_of_order_time_window: %ds\n", int(c.OutOfOrder.Seconds()))
	}
	return storage + fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: %s
scrape_configs:
  - job_name: flespi-exporter
    metrics_path: %s
    static_configs:
      - targets: %s
`, rules, c.MetricsPath, targets)
}

// SetOutOfOrder widens (or narrows) the out-of-order window of the running
// Prometheus: its configuration rewritten and reloaded (SIGHUP).
func (s *Server) SetOutOfOrder(d time.Duration) {
	s.t.Helper()
	s.conf.OutOfOrder = d
	if err := os.WriteFile(filepath.Join(s.dir, "prometheus.yml"), []byte(s.conf.yaml()), 0o644); err != nil {
		s.t.Fatal(err)
	}
	before := s.reloads()
	time.Sleep(1100 * time.Millisecond) // the load time is in whole seconds
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.reloads() == before {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "prometheus.log"))
			s.t.Fatalf("prometheus did not reload its configuration:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reloads is the time of Prometheus' last successful configuration load.
func (s *Server) reloads() string {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "prometheus_config_last_reload_success_timestamp_seconds ") {
			return line
		}
	}
	return ""
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant PromQL query.
func (s *Server) Query(q string) []Sample {
	s.t.Helper()
	var result []Sample
	s.api("/api/v1/query?query="+url.QueryEscape(q), &result)
	return result
}

// api GETs an API path and decodes the data's result into result; an
// error or a failed status fails the test.
func (s *Server) api(path string, result any) {
	s.t.Helper()
	resp, err := http.Get(s.URL + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Status != "success" {
		s.t.Fatalf("%s: %v %s", path, err, body)
	}
	if err := json.Unmarshal(out.Data.Result, result); err != nil {
		s.t.Fatalf("%s: %v %s", path, err, body)
	}
}

// WaitFor runs q until it returns at least n samples, for up to a minute.
func (s *Server) WaitFor(q string, n int) []Sample {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		res := s.Query(q)
		if len(res) >= n {
			return res
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("query %q returned %d samples after a minute, want %d", q, len(res), n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Point is a sample of a range query: Unix seconds and value.
type Point struct {
	Time  float64
	Value string
}

// QueryRange runs a PromQL range query and returns the points of its
// series, by their labels written as {a="b",...}.
func (s *Server) QueryRange(q string, start, end time.Time, step time.Duration) map[string][]Point {
	s.t.Helper()
	v := url.Values{"query": {q}, "start": {itoa(start.Unix())}, "end": {itoa(end.Unix())}, "step": {strconv.Itoa(int(step.Seconds()))}}
	return s.matrix("/api/v1/query_range?" + v.Encode())
}

func itoa(n int64) string         { return strconv.FormatInt(n, 10) }
func queryEscape(q string) string { return url.QueryEscape(q) }

// matrix runs a query whose result is a matrix and returns its series.
func (s *Server) matrix(path string) map[string][]Point {
	s.t.Helper()
	var result []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	s.api(path, &result)
	series := map[string][]Point{}
	for _, r := range result {
		var keys []string
		for k, v := range r.Metric {
			keys = append(keys, k+"="+strconv.Quote(v))
		}
		sort.Strings(keys)
		name := "{" + strings.Join(keys, ",") + "}"
		for _, p := range r.Values {
			t, _ := p[0].(float64)
			val, _ := p[1].(string)
			series[name] = append(series[name], Point{t, val})
		}
	}
	return series
}
