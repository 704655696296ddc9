//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
)

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

// scrapeCounters reads the fleet event counters of a /metrics page,
// summed over devices; nil when it cannot be read (the exporter is down).
func scrapeCounters(url string) map[string]float64 {
	out := map[string]float64{}
	body, err := getBody(url)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "flespi_device_") || !strings.Contains(line, "_total") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

func getBody(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// wantEvents wants InfluxDB's flespi_events to hold want events of each
// kind, and returns what it holds; what says where they came from.
func wantEvents(t *testing.T, db *testinflux.Server, want map[string]int, what string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, s := range db.Query(`SELECT COUNT("duration_s") FROM "flespi_events" GROUP BY "event"`) {
		n, _ := s.Values[0][1].(json.Number).Int64()
		got[s.Tags["event"]] = int(n)
	}
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("InfluxDB: %d %s events, want %d (all: %v)%s", got[kind], kind, n, got, what)
		}
	}
	return got
}
