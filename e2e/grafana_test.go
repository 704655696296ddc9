//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/dashboardtest"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// stack is the test's stand-in for the compose stack: InfluxDB 1.8, the
// exporter binary, and Prometheus with the stack's alert rules, loaded with
// the samples and a generated workload.
type stack struct {
	db   *testinflux.Server
	prom *testprom.Server
}

func startStack(t *testing.T) *stack {
	t.Helper()
	db := testinflux.Start(t)
	// A short reorder window: the fleet events of the day sent below
	// close within the test.
	file, text := testexporter.CopyConfig(t)
	if err := os.WriteFile(file, append(text, "\n[events]\nreorder_window = \"1s\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := testexporter.StartConfig(t, file, map[string]string{
		"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token,
	})
	rules, _ := filepath.Abs("../grafana/prometheus/alerts.yml")
	ruleAlerts, _ := filepath.Abs("../grafana/prometheus/rule-alerts.yml")
	prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", Targets: []string{ex.InternalAddr}, RuleFiles: []string{rules, ruleAlerts}})
	prom.WaitFor(`up{job="flespi-exporter"} == 1`, 1) // Prometheus applies targets after a few seconds
	samples, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		t.Fatal(err)
	}
	// A truck's working day (trips, idling, an overspeed, a drain, a
	// refuel): the fleet events' panels and annotations.
	steps := append(fleettrace.WorkingDay(), fleettrace.Step{Kind: fleettrace.Refuel, For: time.Hour, Every: 10 * time.Minute, Litres: 150},
		fleettrace.Step{Kind: fleettrace.Park, For: 2 * time.Hour, Every: 30 * time.Minute})
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 200, Seed: 9},
		time.Now().Add(-20*time.Hour).Truncate(time.Hour), steps)
	// Batches spread over a few seconds, so that rates over the scrapes are not zero.
	batches := append([][]byte{samples, dashboardtest.EveryParameter(t), fleettrace.Body(day.Deliveries)}, workload.Generate(2000, 20, 250, 7).Batches...)
	for _, b := range batches {
		resp, err := http.Post("http://"+ex.Addr+"/flespi", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("batch answered %s", resp.Status)
		}
		time.Sleep(400 * time.Millisecond)
	}
	prom.WaitFor(`rate(flespi_exporter_messages_received_total[1m]) > 0`, 1)
	waitFor(t, 30*time.Second, "the truck's fleet events in InfluxDB", func() bool { return db.Count("flespi_events", "duration_s") >= len(day.Expected) })
	prom.WaitFor(`ALERTS`, 1)
	return &stack{db: db, prom: prom}
}

// TestDashboardQueries runs every query of every dashboard the way Grafana
// would, with its macros and variables filled in, and wants data from each.
func TestDashboardQueries(t *testing.T) {
	s := startStack(t)
	for _, file := range dashboardtest.Files(t) {
		d := dashboardtest.Read(t, file)
		vars := map[string]string{
			"$timeFilter":       "time >= '2017-01-01T00:00:00Z' AND time <= now()",
			"$__interval":       "1h",
			"$__rate_interval":  "1m",
			"$__range":          "1h",
			"$__interval_ms":    "3600000",
			"$__range_s":        "3600",
			"$__rate_interval_": "",
		}
		// The variables' own queries run first; their values fill the panels'.
		for _, v := range d.Templating.List {
			var values []string
			if v.Datasource != nil && v.Datasource.Type == "prometheus" {
				var texts map[string]string
				values, texts = s.promVariable(t, v.Query, v.Regex)
				// Devices are picked by name: the samples' FVO118 is its ident.
				if texts["4764252939"] != "FVO118" {
					t.Errorf("%s: variable %s shows device 4764252939 as %q, want its name FVO118", file, v.Name, texts["4764252939"])
				}
			} else {
				values = s.influxValues(t, v.Query)
			}
			if len(values) < 20 {
				t.Errorf("%s: variable %s has %d values: %v", file, v.Name, len(values), values)
			}
			for i := range values {
				values[i] = regexp.QuoteMeta(values[i])
			}
			vars["$"+v.Name] = "(" + strings.Join(values, "|") + ")"
		}
		queries := 0
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				queries++
				where := file + ": " + p.Title + " " + tg.RefID
				switch tg.Datasource.Type {
				case "influxdb":
					s.checkInfluxQL(t, where, fill(tg.Query, vars))
				case "prometheus":
					s.checkPromQL(t, where, fill(tg.Expr, vars))
				default:
					t.Errorf("%s: datasource type %s", where, tg.Datasource.Type)
				}
			}
		}
		for _, a := range d.Annotations.List {
			queries++
			if a.Datasource == nil || a.Datasource.Type != "influxdb" {
				t.Errorf("%s: annotation %s: want an InfluxDB query", file, a.Name)
				continue
			}
			s.checkInfluxQL(t, file+": annotation "+a.Name, fill(a.Query, vars))
		}
		if queries < 20 {
			t.Errorf("%s: only %d queries", file, queries)
		}
	}
}

// fill replaces Grafana's macros and variables, longest names first.
func fill(q string, vars map[string]string) string {
	for {
		longest := ""
		for k := range vars {
			if strings.Contains(q, k) && len(k) > len(longest) {
				longest = k
			}
		}
		if longest == "" {
			return q
		}
		q = strings.ReplaceAll(q, longest, vars[longest])
	}
}

func (s *stack) influxValues(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	for _, series := range s.db.Query(q) {
		for _, row := range series.Values {
			out = append(out, row[len(row)-1].(string))
		}
	}
	return out
}

// promVariable runs a Prometheus query_result(...) variable as Grafana
// does: each series written {label="value", ...} (labels sorted), its
// value taken by the regex's value group and its text by the text group
// (the value where the text group matched nothing).
func (s *stack) promVariable(t *testing.T, q, regex string) (values []string, texts map[string]string) {
	t.Helper()
	inner, ok := strings.CutPrefix(q, "query_result(")
	if !ok {
		t.Fatalf("variable query %q is not query_result(...)", q)
	}
	re := regexp.MustCompile(strings.TrimSuffix(strings.TrimPrefix(regex, "/"), "/"))
	texts = map[string]string{}
	for _, sample := range s.prom.Query(strings.TrimSuffix(inner, ")")) {
		var labels []string
		for k, v := range sample.Metric {
			labels = append(labels, fmt.Sprintf("%s=%q", k, v))
		}
		slices.Sort(labels)
		line := "{" + strings.Join(labels, ", ") + "}"
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		value, text := m[re.SubexpIndex("value")], m[re.SubexpIndex("text")]
		if text == "" {
			text = value
		}
		values = append(values, value)
		texts[value] = text
	}
	return values, texts
}

// checkInfluxQL wants at least one non-null value from q.
func (s *stack) checkInfluxQL(t *testing.T, where, q string) {
	t.Helper()
	for _, series := range s.db.Query(q) {
		for _, row := range series.Values {
			for _, v := range row[1:] {
				if v != nil {
					return
				}
			}
		}
	}
	t.Errorf("%s: no data from InfluxQL %s", where, q)
}

// checkPromQL wants at least one sample, not NaN, from q.
func (s *stack) checkPromQL(t *testing.T, where, q string) {
	t.Helper()
	for _, sample := range s.prom.Query(q) {
		if v, err := strconv.ParseFloat(sample.Value[1].(string), 64); err == nil && !math.IsNaN(v) {
			return
		}
	}
	t.Errorf("%s: no data from PromQL %s", where, q)
}

// TestAlertsOnRealData: with the samples loaded, the FVO118 tracker
// (position.valid false) is pending FlespiGnssFixLost, labelled with its
// ident and device name, in the real Prometheus with the stack's rules.
func TestAlertsOnRealData(t *testing.T) {
	s := startStack(t)
	res := s.prom.Query(`ALERTS{alertname="FlespiGnssFixLost"}`)
	found := false
	for _, a := range res {
		found = found || (a.Metric["ident"] == "4764252939" && a.Metric["device_name"] == "FVO118" && a.Metric["alertstate"] == "pending")
	}
	if !found {
		b, _ := json.Marshal(res)
		t.Errorf("no pending FlespiGnssFixLost for 4764252939 FVO118: %s", b)
	}
}

// TestPrometheusFiles runs promtool over the stack's Prometheus
// configuration and alert rules, and the rules' unit tests.
func TestPrometheusFiles(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run the tests with scripts/test.sh, which installs it")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "rules", "rule-alerts.yml"},
		{"test", "rules", "rule-alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../grafana/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
