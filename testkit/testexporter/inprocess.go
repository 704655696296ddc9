package testexporter

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// InProcess is an exporter running inside the test process, on a free
// loopback port, until the test ends.
type InProcess struct {
	URL string // base URL of the stream listener
	// InternalURL is the base URL of the internal listener (/metrics, the
	// status page, /-/ready, /-/reload); URL when http.internal_listen is
	// empty.
	InternalURL string
	Registry    *prometheus.Registry
	Server      *exporter.Server
}

// Options say how StartInProcess configures the repository's config.toml.
type Options struct {
	InfluxURL string            // "" for none
	Bucket    string            // INFLUXDB_BUCKET; "db/autogen" when empty
	Env       map[string]string // more environment variables of the file
	// Change changes the loaded configuration, typed: c.HTTP.MaxInFlight
	// = 2. The rules are compiled again after it, so it may change
	// c.Config.Mapping and c.Rules too.
	Change func(c *config.Loaded)
	Now    func() time.Time // the clock; time.Now when nil
}

// ConfigFile is the repository's config.toml.
func ConfigFile() string { return filepath.Join(root(), "config.toml") }

// SamplesFile is the real flespi messages of testdata.
func SamplesFile() string { return filepath.Join(root(), "testdata", "samples.json") }

// CopyConfig copies the repository's config.toml into a file of the
// test's own, for a test that edits it and reloads: the file and its text.
// Its data directory is FLESPI_EXPORTER_DATA_DIR, else the working
// directory's data: a process test sets the variable (Start does), an
// in-process one must point it elsewhere, or write into the package.
func CopyConfig(t testing.TB) (file string, text []byte) {
	t.Helper()
	text, err := os.ReadFile(ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(file, text, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, text
}

// WithOwnRules writes a copy of the repository's config.toml and a
// rules.d/10-own.toml holding own (the operator's own rules) into a
// directory of the test's, and returns the configuration file's path.
func WithOwnRules(t testing.TB, own string) string {
	t.Helper()
	dir := t.TempDir()
	text, err := os.ReadFile(ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(file, text, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "rules.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.d", "10-own.toml"), []byte(own), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// Samples returns the real flespi messages of testdata/samples.json.
func Samples(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(SamplesFile())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LoadDefault parses the repository's config.toml with an empty environment.
func LoadDefault(t testing.TB) *config.Loaded {
	t.Helper()
	return Parse(t, Options{})
}

// Parse reads the repository's config.toml as opts say.
func Parse(t testing.TB, opts Options) *config.Loaded {
	t.Helper()
	data, err := os.ReadFile(ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	bucket := opts.Bucket
	if bucket == "" {
		bucket = "db/autogen"
	}
	dataDir := t.TempDir() // the device registry of this test alone
	lookup := func(k string) (string, bool) {
		switch k {
		case "INFLUXDB_URL":
			return opts.InfluxURL, true
		case "INFLUXDB_BUCKET":
			return bucket, true
		case "INFLUXDB_TOKEN":
			return "user:pass", true
		}
		v, ok := opts.Env[k]
		if !ok && k == "FLESPI_EXPORTER_DATA_DIR" {
			return dataDir, true
		}
		return v, ok
	}
	cfg, err := config.Parse("config.toml", text, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Change != nil {
		opts.Change(cfg)
		if cfg.Mapping, err = mapping.Compile(cfg.Config.Mapping, cfg.Rules); err != nil {
			t.Fatalf("the changed rules: %v", err)
		}
	}
	return cfg
}

// StartInProcess runs the repository's config.toml as opts say.
func StartInProcess(t testing.TB, opts Options) *InProcess {
	t.Helper()
	return Run(t, Parse(t, opts), opts.Now)
}

// StartWith runs the repository's config.toml in process against
// influxURL ("" for none), with environment variables from env, changed by
// change (nil for none).
func StartWith(t testing.TB, influxURL string, env map[string]string, change func(*config.Loaded)) *InProcess {
	t.Helper()
	return StartInProcess(t, Options{InfluxURL: influxURL, Env: env, Change: change})
}

// PostSamples posts testdata/samples.json to the stream path, and fails
// the test unless the batch is acknowledged.
func (p *InProcess) PostSamples(t testing.TB) {
	t.Helper()
	if code, answer := Post(t, p.URL+"/flespi", Samples(t), nil); code != 200 {
		t.Fatalf("POST samples: %d %s", code, answer)
	}
}

// Run runs an exporter for cfg until the test ends.
func Run(t testing.TB, cfg *config.Loaded, now func() time.Time) *InProcess {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := exporter.New(cfg, exporter.Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ln := &exporter.Listeners{Stream: listen(t)}
	p := &InProcess{URL: "http://" + ln.Stream.Addr().String(), Registry: reg, Server: srv}
	p.InternalURL = p.URL
	if cfg.HTTP.InternalListen != "" {
		ln.Internal = listen(t)
		p.InternalURL = "http://" + ln.Internal.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return p
}

// listen opens a listener on a free loopback port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// SetKey sets key (section.key, such as "influxdb.batch_size") to value
// (TOML: 1000, "text") in a configuration text, for a process-level test
// that runs the binary on a file: the key's line in its section is
// replaced, and nothing of another section with a key of the same name.
func SetKey(t testing.TB, text, key, value string) string {
	t.Helper()
	section, name, ok := strings.Cut(key, ".")
	if !ok {
		t.Fatalf("SetKey: %q is not section.key", key)
	}
	lines := strings.Split(text, "\n")
	in := false
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			in = trimmed == "["+section+"]"
			continue
		}
		if k, _, found := strings.Cut(trimmed, "="); in && found && strings.TrimSpace(k) == name {
			lines[i] = name + " = " + value
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("config.toml has no %s in [%s]", name, section)
	return ""
}

// Post sends a batch and returns the status code and answer.
func Post(t testing.TB, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer))
}

// Get returns the body of a GET that must answer 200.
func Get(t testing.TB, url string) string {
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

// MetricValue scrapes the exporter's /metrics and sums the samples of a
// metric whose labels include the given name=value pairs.
func (p *InProcess) MetricValue(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	return MetricValue(t, p.InternalURL+"/metrics", name, labels...)
}

// MetricValue scrapes url and sums the samples of a metric whose labels
// include the given name=value pairs; 0 when there is none.
func MetricValue(t tb.T, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s does not parse: %v", url, err)
	}
	sum := 0.0
	mf, ok := mfs[name]
	if !ok {
		return 0
	}
metric:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
			}
			if !found {
				continue metric
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}
