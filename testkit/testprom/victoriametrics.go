package testprom

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// StartVictoriaMetrics runs Debian's victoria-metrics (one binary, a
// remote write receiver at /api/v1/write and Prometheus' query API) on a
// free loopback port; it is stopped when the test ends. The Server's
// queries work on it as on Prometheus.
func StartVictoriaMetrics(t tb.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("victoria-metrics")
	if err != nil {
		t.Fatal("victoria-metrics is not installed: run the tests with scripts/test.sh, which installs it")
	}
	dir := t.TempDir()
	addr := tb.FreeAddr(t)
	s := &Server{URL: "http://" + addr, t: t, dir: dir}
	log, err := os.Create(filepath.Join(dir, "victoria-metrics.log"))
	if err != nil {
		t.Fatal(err)
	}
	// -search.latencyOffset 0: samples are queryable at once, not 30 s
	// later, so that a test need not wait.
	s.start = func() *exec.Cmd {
		cmd := exec.Command(bin, "-storageDataPath="+filepath.Join(dir, "data"), "-httpListenAddr="+addr, "-search.latencyOffset=0s")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	s.cmd = s.start()
	t.Cleanup(func() {
		s.Stop()
		log.Close()
	})
	s.waitHealthy(log.Name())
	return s
}

// Stop ends a VictoriaMetrics started by StartVictoriaMetrics (its data
// stays); Restart starts it again on the same port and data.
func (s *Server) Stop() { tb.Kill(&s.cmd) }

// Restart starts VictoriaMetrics again after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = s.start()
	s.waitHealthy(filepath.Join(s.dir, "victoria-metrics.log"))
}

func (s *Server) waitHealthy(logFile string) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(s.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("victoria-metrics did not start:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Samples returns the raw samples of a range selector ("metric[2h]") at
// time at, by series: each with its own timestamp, as stored.
func (s *Server) Samples(selector string, at time.Time) map[string][]Point {
	s.t.Helper()
	return s.matrix("/api/v1/query?query=" + queryEscape(selector) + "&time=" + itoa(at.Unix()))
}
