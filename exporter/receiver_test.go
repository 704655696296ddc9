package exporter

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/internal/testinflux"
)

// exporterUnderTest is an in-process exporter on a free loopback port.
type exporterUnderTest struct {
	URL string // base URL
	reg *prometheus.Registry
}

// startExporter runs the repository's config.toml against influxURL (""
// for none), with environment variables from env, and with override, a line
// "key = value" that replaces the line of that key.
func startExporter(t *testing.T, influxURL string, env map[string]string, override string) *exporterUnderTest {
	t.Helper()
	return startExporterAt(t, influxURL, env, override, nil)
}

// startExporterAt is startExporter with the clock now (time.Now when nil).
func startExporterAt(t *testing.T, influxURL string, env map[string]string, override string, now func() time.Time) *exporterUnderTest {
	t.Helper()
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := withOverride(t, string(data), override)
	lookup := func(k string) (string, bool) {
		switch k {
		case "INFLUXDB_URL":
			return influxURL, true
		case "INFLUXDB_BUCKET":
			return testinflux.Bucket, true
		case "INFLUXDB_TOKEN":
			return testinflux.Token, true
		}
		v, ok := env[k]
		return v, ok
	}
	cfg, err := config.Parse("config.toml", text, lookup)
	if err != nil {
		t.Fatal(err)
	}
	return runServer(t, cfg, now)
}

// runServer runs an exporter for cfg on a free loopback port until the
// test ends.
func runServer(t *testing.T, cfg *config.Loaded, now func() time.Time) *exporterUnderTest {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Now: now})
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return &exporterUnderTest{URL: "http://" + ln.Addr().String(), reg: reg}
}

// withOverride replaces the line of a key in a configuration text with
// override, "key = value"; "" changes nothing.
func withOverride(t *testing.T, text, override string) string {
	t.Helper()
	key, _, ok := strings.Cut(override, " = ")
	if !ok {
		return text
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
	if !re.MatchString(text) {
		t.Fatalf("config.toml has no line for %s", key)
	}
	return re.ReplaceAllLiteralString(text, override)
}

// post sends a batch and returns the status code and answer.
func post(t *testing.T, url string, body []byte, header map[string]string) (int, string) {
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

func samples(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// field returns the value of one field of the point of ident at time ns.
func field(t *testing.T, db *testinflux.Server, name, ident string, ns int64) any {
	t.Helper()
	series := db.Query(`SELECT "` + name + `" FROM flespi WHERE ident = '` + ident + `' AND time = ` + strconv.FormatInt(ns, 10))
	if len(series) == 0 || len(series[0].Values) != 1 {
		t.Fatalf("no point of %s at %d with field %s: %+v", ident, ns, name, series)
	}
	return series[0].Values[0][1]
}

// TestStoreSamples posts the real flespi samples and reads them back from
// InfluxDB: typed values and exact microsecond timestamps.
func TestStoreSamples(t *testing.T) {
	db := testinflux.Start(t)
	ex := startExporter(t, db.URL, nil, "")
	code, answer := post(t, ex.URL+"/flespi", samples(t), nil)
	if code != http.StatusOK {
		t.Fatalf("POST samples: %d %s", code, answer)
	}
	if want := "stored: 8 messages, 8 points, 0 skipped messages, 0 dead-lettered points"; answer != want {
		t.Errorf("answer %q, want %q", answer, want)
	}
	checks := []struct {
		field, ident string
		ns           int64
		want         string
	}{
		{"position.speed", "352093081234567", 1717171200250000000, "63"},
		{"can.fuel.level", "352093081234567", 1717171200250000000, "71"},
		{"gsm.mcc", "352093081234567", 1717171200250000000, "262"},
		{"engine.ignition.status", "352093081234567", 1717171200250000000, "true"},
		{"ble.sensor.temperature.1", "352093081234567", 1717171200250000000, "-18.2"},
		{"battery.voltage", "015136001986400", 1706905170172580000, "4.09"},
		{"gisgraphy.address.city", "4764252939", 1729132792000000000, "Becerril"},
		{"server.timestamp", "4764252939", 1729132792000000000, "1729132792.719063"},
		{"position.direction", "605630", 1506695785000000000, "262.643854"},
	}
	for _, c := range checks {
		if got := jsonText(field(t, db, c.field, c.ident, c.ns)); got != c.want {
			t.Errorf("%s of %s = %s, want %s", c.field, c.ident, got, c.want)
		}
	}
	// The same batch again (flespi resends when our 200 is lost) changes
	// nothing, except for the first sample: it has no timestamp at all, so
	// each copy is stamped with its arrival time and is a point of its own.
	before := countAll(t, db)
	if code, answer := post(t, ex.URL+"/flespi", samples(t), nil); code != http.StatusOK {
		t.Fatalf("resend: %d %s", code, answer)
	}
	if after := countAll(t, db); before != 8 || after != 9 {
		t.Errorf("points: %d after the first post, %d after the resend; want 8 and 9", before, after)
	}
	if got := metricValue(t, ex, "flespi_exporter_points_written_total"); got != 16 {
		t.Errorf("points_written_total = %v, want 16", got)
	}
}

// countAll counts the points of measurement flespi (every point of the
// default rules has an ident tag; count any field of all).
func countAll(t *testing.T, db *testinflux.Server) int {
	t.Helper()
	series := db.Query(`SELECT COUNT(*) FROM flespi GROUP BY ident`)
	total := 0
	for _, s := range series {
		// The largest count over the fields is the number of points of that ident.
		most := int64(0)
		for _, v := range s.Values[0][1:] {
			if num, ok := v.(json.Number); ok {
				if n, err := num.Int64(); err == nil && n > most {
					most = n
				}
			}
		}
		total += int(most)
	}
	return total
}

func jsonText(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// metricValue scrapes the exporter's /metrics and sums the samples of a
// metric whose labels include the given name=value pairs.
func metricValue(t *testing.T, ex *exporterUnderTest, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(ex.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
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

// TestBadInput sends what must not be acknowledged, and checks each answer
// and that nothing of it reached InfluxDB.
func TestBadInput(t *testing.T) {
	db := testinflux.Start(t)
	ex := startExporter(t, db.URL, map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, `max_body_size = "64KiB"`)
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	big := bytes.Repeat([]byte(" "), 70<<10)
	bomb := gzipped(t, append(append([]byte(`[{"ident":"a","x":"`), bytes.Repeat([]byte("a"), 200<<10)...), `"}]`...))
	tests := []struct {
		name   string
		method string
		body   []byte
		header map[string]string
		code   int
		answer string
	}{
		{"no token", "POST", samples(t), nil, 401, `missing or wrong token: send the header "Authorization" with "Bearer <token>"`},
		{"wrong token", "POST", samples(t), map[string]string{"Authorization": "Bearer s3cre"}, 401, `missing or wrong token: send the header "Authorization" with "Bearer <token>"`},
		{"GET", "GET", nil, auth, 405, "GET is not supported: flespi streams POST their batches"},
		{"malformed JSON", "POST", []byte(`[{"ident":"a","position.speed":1},{"ident":`), auth, 400,
			"invalid JSON at line 1, byte 43: want a value for \"ident\", found the end of the body; nothing of this batch was stored"},
		{"not messages", "POST", []byte(`[1,2]`), auth, 400, "invalid JSON at line 1, byte 1: array element 0 is a number; every message must be a JSON object; nothing of this batch was stored"},
		{"too large", "POST", big, auth, 413, "body of 71680 bytes is larger than http.max_body_size (64KiB)"},
		{"too large once inflated", "POST", bomb, withHeader(auth, "Content-Encoding", "gzip"), 413, "body is larger than http.max_body_size (64KiB) once decompressed"},
		{"bad gzip", "POST", []byte("this is not gzip at all"), withHeader(auth, "Content-Encoding", "gzip"), 400, "the body is cut short or not validly compressed: gzip: invalid header"},
		{"unknown encoding", "POST", samples(t), withHeader(auth, "Content-Encoding", "br"), 415, `Content-Encoding "br" is not supported; send gzip, deflate or none`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, ex.URL+"/flespi", bytes.NewReader(tt.body))
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := strings.TrimSpace(string(answer))
		want := strings.ReplaceAll(tt.answer, `\"`, `"`)
		if resp.StatusCode != tt.code || got != want {
			t.Errorf("%s: %d %q\n want %d %q", tt.name, resp.StatusCode, got, tt.code, want)
		}
	}
	if n := countAll(t, db); n != 0 {
		t.Errorf("%d points reached InfluxDB from rejected requests", n)
	}
	if code, answer := post(t, ex.URL+"/flespi", samples(t), auth); code != 200 {
		t.Errorf("a good request after the bad ones: %d %s", code, answer)
	}
	if got := metricValue(t, ex, "flespi_exporter_requests_total", "code", "401"); got != 2 {
		t.Errorf("requests_total{code=401} = %v, want 2", got)
	}
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		out[hk] = hv
	}
	return out
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// TestAllowList answers 403 to a client outside http.allow_cidrs.
func TestAllowList(t *testing.T) {
	ex := startExporter(t, "", nil, `allow_cidrs = ["185.213.2.0/24"]`)
	code, answer := post(t, ex.URL+"/flespi", samples(t), nil)
	if code != 403 || !strings.HasPrefix(answer, "client 127.0.0.1:") || !strings.HasSuffix(answer, " is not in http.allow_cidrs") {
		t.Errorf("got %d %q", code, answer)
	}
	ex = startExporter(t, "", nil, `allow_cidrs = ["185.213.2.0/24", "127.0.0.0/8"]`)
	if code, answer := post(t, ex.URL+"/flespi", samples(t), nil); code != 200 {
		t.Errorf("allowed client: %d %q", code, answer)
	}
}

// TestCompressedBodies accepts gzip and both kinds of deflate.
func TestCompressedBodies(t *testing.T) {
	db := testinflux.Start(t)
	ex := startExporter(t, db.URL, nil, "")
	var z, f bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(samples(t))
	zw.Close()
	fw, _ := flate.NewWriter(&f, flate.DefaultCompression)
	fw.Write(samples(t))
	fw.Close()
	for name, body := range map[string][]byte{"gzip": gzipped(t, samples(t)), "deflate": z.Bytes(), "raw deflate": f.Bytes()} {
		enc := name
		if name == "raw deflate" {
			enc = "deflate"
		}
		if code, answer := post(t, ex.URL+"/flespi", body, map[string]string{"Content-Encoding": enc}); code != 200 {
			t.Errorf("%s: %d %s", name, code, answer)
		}
	}
	// Three copies: 7 points with a timestamp, and the sample without one
	// three times (see TestStoreSamples).
	if n := countAll(t, db); n != 10 {
		t.Errorf("%d points stored, want 10", n)
	}
}

// TestInfluxDown answers 503 while InfluxDB is down, and stores the batch
// once it is back.
func TestInfluxDown(t *testing.T) {
	db := testinflux.Start(t)
	ex := startExporter(t, db.URL, nil, "")
	db.Stop()
	resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(answer), "the batch was not acknowledged and will come again") {
		t.Errorf("InfluxDB down: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), answer)
	}
	if r, _ := http.Get(ex.URL + "/-/ready"); r == nil || r.StatusCode != 503 {
		t.Errorf("/-/ready with InfluxDB down: %v", r)
	}
	db.Restart()
	if code, answer := post(t, ex.URL+"/flespi", samples(t), nil); code != 200 {
		t.Fatalf("InfluxDB back: %d %s", code, answer)
	}
	if n := countAll(t, db); n != 8 {
		t.Errorf("%d points stored, want 8", n)
	}
	if r, _ := http.Get(ex.URL + "/-/ready"); r == nil || r.StatusCode != 200 {
		t.Errorf("/-/ready with InfluxDB up: %v", r)
	}
	if got := metricValue(t, ex, "flespi_exporter_write_errors_total", "kind", "transient"); got < 1 {
		t.Errorf("write_errors_total{kind=transient} = %v", got)
	}
}

// TestDeadLetters: points InfluxDB refuses for good (a field type conflict
// with data written before) go to the dead-letter file with their message;
// the rest of the batch is stored and the batch acknowledged.
func TestDeadLetters(t *testing.T) {
	db := testinflux.Start(t)
	deadFile := filepath.Join(t.TempDir(), "dead.jsonl")
	ex := startExporter(t, db.URL, map[string]string{"FLESPI_EXPORTER_DEAD_LETTER_FILE": deadFile}, "")
	// gsm.mcc is an integer field for the exporter; make it a string in
	// InfluxDB first, in the week (shard) of the truck-07 sample.
	writeLine(t, db, `flespi,ident=old gsm.mcc="257" 1717171000000000000`)
	code, answer := post(t, ex.URL+"/flespi", samples(t), nil)
	if code != 200 || answer != "stored: 8 messages, 7 points, 0 skipped messages, 1 dead-lettered points" {
		t.Fatalf("got %d %q", code, answer)
	}
	data, err := os.ReadFile(deadFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("dead-letter file has %d lines, want 1:\n%s", len(lines), data)
	}
	var entry struct {
		Time, Error, Line string
		Message           map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Message["ident"] != "352093081234567" || entry.Message["can.engine.rpm"] != 1650.0 || !strings.Contains(entry.Error, "field type conflict") ||
		!strings.Contains(entry.Line, "gsm.mcc=262i") {
		t.Errorf("dead letter: %+v", entry)
	}
	// The 7 other messages are stored (the old string point does not count:
	// InfluxQL reads gsm.mcc with one type across shards and skips it).
	if n := countAll(t, db); n != 7 {
		t.Errorf("%d points in InfluxDB, want 7", n)
	}
	if s := db.Query(`SELECT "position.speed" FROM flespi WHERE ident = '352093081234567'`); len(s) != 0 {
		t.Errorf("the rejected point is in InfluxDB: %+v", s)
	}
	if got := metricValue(t, ex, "flespi_exporter_dead_letters_total"); got != 1 {
		t.Errorf("dead_letters_total = %v, want 1", got)
	}
}

func writeLine(t *testing.T, db *testinflux.Server, line string) {
	t.Helper()
	resp, err := http.Post(db.URL+"/write?db="+testinflux.Database, "text/plain", strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("write %q: %s", line, resp.Status)
	}
}

// TestInFlightCap answers 503 when http.max_in_flight batches are being
// read or written already.
func TestInFlightCap(t *testing.T) {
	ex := startExporter(t, "", nil, "max_in_flight = 1")
	pr, pw := io.Pipe()
	started := make(chan struct{})
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", ex.URL+"/flespi", pr)
		close(started)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-started
	pw.Write([]byte(`[{"ident":"a",`)) // the handler now waits for the rest
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, ex, "flespi_exporter_requests_in_flight") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second batch: %d %s", resp.StatusCode, answer)
	}
	pw.Write([]byte(`"x":1}]`))
	pw.Close()
	if code := <-first; code != 200 {
		t.Errorf("first batch: %d", code)
	}
}

// TestSkipsAndChunks: a message without ident is skipped and counted while
// the rest is stored, in write requests of influxdb.batch_size points.
func TestSkipsAndChunks(t *testing.T) {
	db := testinflux.Start(t)
	ex := startExporter(t, db.URL, nil, "batch_size = 3")
	body := []byte(`[{"timestamp":1717171200,"position.speed":1},` +
		`{"ident":"a","timestamp":1717171200,"position.speed":2},{"ident":"a","timestamp":1717171201,"position.speed":"fast"},` +
		`{"ident":"b","timestamp":1717171200,"position.speed":3},{"ident":"c","timestamp":1717171200,"position.speed":4},` +
		`{"ident":"d","timestamp":1717171200,"position.speed":5},{"ident":"e","timestamp":1717171200,"position.speed":6,"battery.voltage":4}]`)
	code, answer := post(t, ex.URL+"/flespi", body, nil)
	if code != 200 || answer != "stored: 7 messages, 5 points, 1 skipped messages, 0 dead-lettered points" {
		t.Fatalf("got %d %q", code, answer)
	}
	if n := countAll(t, db); n != 5 {
		t.Errorf("%d points stored, want 5", n)
	}
	checks := map[string]float64{
		"flespi_exporter_messages_skipped_total{reason=no_ident}":  metricValue(t, ex, "flespi_exporter_messages_skipped_total", "reason", "no_ident"),
		"flespi_exporter_values_skipped_total{reason=uncoercible}": metricValue(t, ex, "flespi_exporter_values_skipped_total", "reason", "uncoercible"),
		"flespi_exporter_write_duration_seconds (requests)":        metricValue(t, ex, "flespi_exporter_write_duration_seconds"),
	}
	want := map[string]float64{
		"flespi_exporter_messages_skipped_total{reason=no_ident}":  1,
		"flespi_exporter_values_skipped_total{reason=uncoercible}": 1,
		"flespi_exporter_write_duration_seconds (requests)":        2, // 5 points in chunks of 3
	}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %v, want %v", k, checks[k], v)
		}
	}
}

// TestTLS serves the stream over HTTPS when http.tls_cert and tls_key are set.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ex := startExporter(t, "", map[string]string{"FLESPI_EXPORTER_TLS_CERT": certFile, "FLESPI_EXPORTER_TLS_KEY": keyFile}, "")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := strings.Replace(ex.URL, "http://", "https://", 1) + "/flespi"
	resp, err := client.Post(url, "application/json", bytes.NewReader(samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS POST: %s", resp.Status)
	}
	// Go's TLS server answers plain HTTP with 400.
	if resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(samples(t))); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP was accepted on the TLS listener")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a
// pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flespi-exporter test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
