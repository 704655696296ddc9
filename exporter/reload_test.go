package exporter_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// startFromFile runs an in-process exporter from a configuration file, so
// that a reload reads that file again.
func startFromFile(t *testing.T, file string) *testexporter.InProcess {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return testexporter.Run(t, cfg, nil)
}

// editableConfig is a copy of the repository's config.toml of the test's
// own, its data directory a temporary one (the shipped one is relative to
// the working directory: the package's source), and how to write it again
// with extra text at its end.
func editableConfig(t *testing.T) (file string, write func(extra string)) {
	t.Helper()
	text, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	const dataDir = `dir = "${FLESPI_EXPORTER_DATA_DIR:-data}"`
	if !strings.Contains(string(text), dataDir) {
		t.Fatalf("config.toml has no line %s to point at a temporary directory", dataDir)
	}
	base := strings.Replace(string(text), dataDir, "dir = "+strconv.Quote(t.TempDir()), 1)
	file = filepath.Join(t.TempDir(), "config.toml")
	return file, func(extra string) {
		if err := os.WriteFile(file, append(append([]byte{}, base...), extra...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReload: POST /-/reload applies new rules; an invalid file keeps the
// old ones, answers its file:line errors and sets the reload metric to 0.
func TestReload(t *testing.T) {
	file, write := editableConfig(t)
	write("")
	ex := startFromFile(t, file)
	msg := []byte(`[{"ident":"a","timestamp":1717171200,"custom.param.7":42}]`)
	testexporter.Post(t, ex.URL+"/flespi", msg, nil)
	if strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), "flespi_custom_7") {
		t.Fatal("a gauge for custom.param.7 before any rule maps it")
	}
	rules := ex.MetricValue(t, "flespi_exporter_config_rules")

	write("\n[[rule]]\nmatch = \"custom.param.*\"\ngauge = \"custom_$1\"\n")
	if code, answer := postReload(t, ex); code != 200 || answer != "reloaded" {
		t.Fatalf("reload: %d %q", code, answer)
	}
	testexporter.Post(t, ex.URL+"/flespi", msg, nil)
	if !strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), `flespi_custom_7{ident="a"} 42`) {
		t.Error("the reloaded rule made no gauge")
	}
	if status := testexporter.Get(t, ex.InternalURL+"/api/status"); strings.Contains(status, `"name": "custom.param.7"`) {
		t.Error("custom.param.7 is still listed as unmapped after a reload that maps it")
	}
	if got := ex.MetricValue(t, "flespi_exporter_config_rules"); got != rules+1 {
		t.Errorf("config_rules = %v after adding a rule to %v", got, rules)
	}

	write("\n[[rule]]\nmatch = \"custom.param.*\"\nunit = \"furlongs\"\n")
	code, answer := postReload(t, ex)
	if code != 500 || !strings.Contains(answer, `config.toml:`+lineOf(t, file, `unit = "furlongs"`)+`: [[rule]] #`) ||
		!strings.Contains(answer, `unknown unit "furlongs"`) {
		t.Errorf("invalid reload: %d %q", code, answer)
	}
	if got := ex.MetricValue(t, "flespi_exporter_config_last_reload_successful"); got != 0 {
		t.Errorf("last_reload_successful = %v after a failed reload", got)
	}
	testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171300,"custom.param.7":43}]`), nil)
	if !strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), `flespi_custom_7{ident="a"} 43`) {
		t.Error("the rules in use before the failed reload stopped working")
	}
	if resp, err := http.Get(ex.InternalURL + "/-/reload"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %v %v", resp, err)
	}
}

func postReload(t *testing.T, ex *testexporter.InProcess) (int, string) {
	t.Helper()
	return testexporter.Post(t, ex.InternalURL+"/-/reload", nil, nil)
}

// lineOf is the line number of the first line of file containing s.
func lineOf(t *testing.T, file, s string) string {
	t.Helper()
	data, _ := os.ReadFile(file)
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%q not in %s", s, file)
	return ""
}

// TestReloadOfRemoteWrite: a reload that changes [remote_write] says that
// only a restart applies it, rather than "reloaded" with nothing changed.
func TestReloadOfRemoteWrite(t *testing.T) {
	file, write := editableConfig(t)
	write("")
	ex := startFromFile(t, file)
	base, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(base), `batch_size = 5000
protocol = "1.0"`, `batch_size = 2000
protocol = "1.0"`, 1)
	if changed == string(base) {
		t.Fatal("config.toml's [remote_write] batch_size is not where the test looks")
	}
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, answer := postReload(t, ex); code != 200 || !strings.Contains(answer, "only a restart applies: remote_write") {
		t.Errorf("reload of [remote_write]: %d %q", code, answer)
	}
}

// TestReloadOfEvents: a reload applies new [events] thresholds to what
// comes next: 100 km/h is no overspeed under a limit of 110, and is one
// once the limit is reloaded as 90.
func TestReloadOfEvents(t *testing.T) {
	file, edit := editableConfig(t)
	write := func(limit string) { edit("\n[events]\nreorder_window = \"0s\"\nspeed_limit = " + limit + "\n") }
	episode := func(ident string) []byte {
		var msgs []string
		for i, speed := range []int{100, 100, 100, 100, 100, 50} {
			msgs = append(msgs, `{"ident":"`+ident+`","timestamp":`+strconv.Itoa(1717171200+10*i)+`,"position.latitude":50,"position.longitude":`+
				strconv.FormatFloat(30+0.003*float64(i), 'f', 4, 64)+`,"position.speed":`+strconv.Itoa(speed)+`,"position.valid":true}`)
		}
		return []byte("[" + strings.Join(msgs, ",") + "]")
	}
	write("110")
	ex := startFromFile(t, file)
	testexporter.Post(t, ex.URL+"/flespi", episode("a"), nil)
	write("90")
	if code, answer := postReload(t, ex); code != 200 || answer != "reloaded" {
		t.Fatalf("reload: %d %q", code, answer)
	}
	testexporter.Post(t, ex.URL+"/flespi", episode("b"), nil)
	if a, b := ex.MetricValue(t, "flespi_device_overspeeds_total", "ident", "a"), ex.MetricValue(t, "flespi_device_overspeeds_total", "ident", "b"); a != 0 || b != 1 {
		t.Errorf("overspeeds: a %v under 110 km/h, b %v under 90; want 0 and 1", a, b)
	}
}
