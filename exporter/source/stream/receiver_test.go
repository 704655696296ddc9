package stream_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestBadInput sends what must not be acknowledged, and checks each answer
// and that nothing of it reached InfluxDB.
func TestBadInput(t *testing.T) {
	db := fakeinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, func(c *config.Loaded) { c.HTTP.MaxBodySize = 64 << 10 })
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
		{"no token", "POST", testexporter.Samples(t), nil, 401, `missing or wrong token: send the header "Authorization" with "Bearer <token>"`},
		{"wrong token", "POST", testexporter.Samples(t), map[string]string{"Authorization": "Bearer s3cre"}, 401, `missing or wrong token: send the header "Authorization" with "Bearer <token>"`},
		{"GET", "GET", nil, auth, 405, "GET is not supported: flespi streams POST their batches"},
		{"malformed JSON", "POST", []byte(`[{"ident":"a","position.speed":1},{"ident":`), auth, 400,
			"invalid JSON at line 1, byte 43: want a value for \"ident\", found the end of the body; nothing of this batch was stored"},
		{"not messages", "POST", []byte(`[1,2]`), auth, 400, "invalid JSON at line 1, byte 1: array element 0 is a number; every message must be a JSON object; nothing of this batch was stored"},
		{"too large", "POST", big, auth, 413, "body of 71680 bytes is larger than http.max_body_size (64KiB)"},
		{"too large once inflated", "POST", bomb, withHeader(auth, "Content-Encoding", "gzip"), 413, "body is larger than http.max_body_size (64KiB) once decompressed"},
		{"bad gzip", "POST", []byte("this is not gzip at all"), withHeader(auth, "Content-Encoding", "gzip"), 400, "the body is cut short or not validly compressed: gzip: invalid header"},
		{"unknown encoding", "POST", testexporter.Samples(t), withHeader(auth, "Content-Encoding", "br"), 415, `Content-Encoding "br" is not supported; send gzip, deflate or none`},
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
	if n := len(db.Lines()); n != 0 {
		t.Errorf("%d points reached InfluxDB from rejected requests", n)
	}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), auth); code != 200 {
		t.Errorf("a good request after the bad ones: %d %s", code, answer)
	}
	if got := ex.MetricValue(t, "flespi_exporter_requests_total", "code", "401"); got != 2 {
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
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.HTTP.AllowCIDRs = []string{"185.213.2.0/24"} })
	code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	if code != 403 || !strings.HasPrefix(answer, "client 127.0.0.1:") || !strings.HasSuffix(answer, " is not in http.allow_cidrs") {
		t.Errorf("got %d %q", code, answer)
	}
	ex = testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.HTTP.AllowCIDRs = []string{"185.213.2.0/24", "127.0.0.0/8"} })
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != 200 {
		t.Errorf("allowed client: %d %q", code, answer)
	}
}

// TestCompressedBodies accepts gzip and both kinds of deflate.
func TestCompressedBodies(t *testing.T) {
	db := fakeinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, nil)
	var z, f bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(testexporter.Samples(t))
	zw.Close()
	fw, _ := flate.NewWriter(&f, flate.DefaultCompression)
	fw.Write(testexporter.Samples(t))
	fw.Close()
	for name, body := range map[string][]byte{"gzip": gzipped(t, testexporter.Samples(t)), "deflate": z.Bytes(), "raw deflate": f.Bytes()} {
		enc := name
		if name == "raw deflate" {
			enc = "deflate"
		}
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", body, map[string]string{"Content-Encoding": enc}); code != 200 {
			t.Errorf("%s: %d %s", name, code, answer)
		}
	}
	// Three copies of the 8 points.
	if n := len(db.Lines()); n != 24 {
		t.Errorf("%d points written, want 24", n)
	}
}

// slowClient starts a POST whose body arrives as head and then nothing
// until the test ends (a client that sends a byte a minute).
func slowClient(t *testing.T, url string, header map[string]string, head []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", url, pr)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(head); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF); <-done })
}

// TestSlowClientsHoldNoSlot: clients that hold the token and send slowly
// take no slot while their bodies arrive: with every slot's worth of them
// and more, a whole batch is still stored at once.
func TestSlowClientsHoldNoSlot(t *testing.T) {
	ex := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, func(c *config.Loaded) { c.HTTP.MaxInFlight = 2 })
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	for range 4 {
		slowClient(t, ex.URL+"/flespi", auth, []byte(`[{"ident":"a",`))
	}
	deadline := time.Now().Add(5 * time.Second)
	for ex.MetricValue(t, "flespi_exporter_requests_in_flight") < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), auth); code != 200 {
		t.Errorf("a whole batch beside 4 slow ones: %d %s", code, answer)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the batch took %v", d)
	}
}

// TestInFlightBytes: the body bytes requests hold are bounded by
// http.max_in_flight_bytes, counted as they arrive; past it, 503 with
// Retry-After, and the bytes are given back when a request ends.
func TestInFlightBytes(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.HTTP.MaxBodySize, c.HTTP.MaxInFlightBytes = 8<<10, 10<<10 })
	slowClient(t, ex.URL+"/flespi", nil, append([]byte(`[{"ident":"a","x":"`), bytes.Repeat([]byte("a"), 7<<10)...))
	deadline := time.Now().Add(5 * time.Second)
	for ex.MetricValue(t, "flespi_exporter_in_flight_bytes") < 7<<10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(testexporter.Samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(answer), "http.max_in_flight_bytes") {
		t.Errorf("a batch past the budget: %d %q", resp.StatusCode, answer)
	}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"b","timestamp":1717171200,"battery.voltage":4}]`), nil); code != 200 {
		t.Errorf("a small batch within the budget: %d %s", code, answer)
	}
	if got := ex.MetricValue(t, "flespi_exporter_in_flight_bytes"); got < 7<<10 || got > 10<<10 {
		t.Errorf("in_flight_bytes = %v with the slow client's 7 KiB held", got)
	}
}

// TestSlotsWhileStoring: http.max_in_flight bounds the batches being
// stored; one more waits a few seconds for a slot, then gets 503.
func TestSlotsWhileStoring(t *testing.T) {
	db := fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Status: 204, Delay: 7 * time.Second})
	ex := testexporter.StartWith(t, db.URL, nil, func(c *config.Loaded) { c.HTTP.MaxInFlight = 1 })
	first := make(chan int, 1)
	go func() {
		code, _ := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
		first <- code
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(db.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	if code != 503 || !strings.Contains(answer, "http.max_in_flight)") {
		t.Errorf("a second batch while the first is stored: %d %q", code, answer)
	}
	if code := <-first; code != 200 {
		t.Errorf("first batch: %d", code)
	}
}

// TestSkipsAndChunks: a message without ident is skipped and counted while
// the rest is stored, in write requests of influxdb.batch_size points.
func TestSkipsAndChunks(t *testing.T) {
	db := fakeinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, func(c *config.Loaded) { c.InfluxDB.BatchSize = 3 })
	body := []byte(`[{"timestamp":1717171200,"position.speed":1},` +
		`{"ident":"a","timestamp":1717171200,"position.speed":2},{"ident":"a","timestamp":1717171201,"position.speed":"fast"},` +
		`{"ident":"b","timestamp":1717171200,"position.speed":3},{"ident":"c","timestamp":1717171200,"position.speed":4},` +
		`{"ident":"d","timestamp":1717171200,"position.speed":5},{"ident":"e","timestamp":1717171200,"position.speed":6,"battery.voltage":4}]`)
	code, answer := testexporter.Post(t, ex.URL+"/flespi", body, nil)
	if code != 200 || answer != "stored: 7 messages, 1 skipped messages; influxdb: 5 points, 0 dead-lettered" {
		t.Fatalf("got %d %q", code, answer)
	}
	if n, reqs := len(db.Lines()), db.Requests(); n != 5 || len(reqs) != 2 || reqs[0] != 3 || reqs[1] != 2 {
		t.Errorf("%d points stored in requests of %v lines, want 5 in 3 and 2", n, reqs)
	}
	checks := map[string]float64{
		"flespi_exporter_messages_skipped_total{reason=no_ident}":  ex.MetricValue(t, "flespi_exporter_messages_skipped_total", "reason", "no_ident"),
		"flespi_exporter_values_skipped_total{reason=uncoercible}": ex.MetricValue(t, "flespi_exporter_values_skipped_total", "reason", "uncoercible"),
		"flespi_exporter_write_duration_seconds (requests)":        ex.MetricValue(t, "flespi_exporter_write_duration_seconds"),
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
	certFile, keyFile, pool := tb.SelfSigned(t, t.TempDir())
	ex := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TLS_CERT": certFile, "FLESPI_EXPORTER_TLS_KEY": keyFile}, nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := strings.Replace(ex.URL, "http://", "https://", 1) + "/flespi"
	resp, err := client.Post(url, "application/json", bytes.NewReader(testexporter.Samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HTTPS POST: %s", resp.Status)
	}
	// Go's TLS server answers plain HTTP with 400.
	if resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(testexporter.Samples(t))); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP was accepted on the TLS listener")
	}
}

// TestBearerScheme: the scheme is matched without regard to case; the
// bare token in Authorization is refused; a custom header may carry it.
func TestBearerScheme(t *testing.T) {
	ex := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, nil)
	for header, want := range map[string]int{
		"Bearer s3cret":   200,
		"bearer s3cret":   200,
		"BEARER  s3cret ": 200,
		"s3cret":          401,
		"Basic s3cret":    401,
		"Bearer":          401,
		"Bearers3cret":    401,
	} {
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), map[string]string{"Authorization": header}); code != want {
			t.Errorf("Authorization: %q: %d %s, want %d", header, code, answer, want)
		}
	}
	custom := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, func(c *config.Loaded) { c.HTTP.AuthHeader = "X-Stream-Token" })
	for header, want := range map[string]int{"s3cret": 200, "Bearer s3cret": 200, "wrong": 401} {
		if code, answer := testexporter.Post(t, custom.URL+"/flespi", testexporter.Samples(t), map[string]string{"X-Stream-Token": header}); code != want {
			t.Errorf("X-Stream-Token: %q: %d %s, want %d", header, code, answer, want)
		}
	}
}

// declare opens a connection that posts a batch declaring length bytes
// and sends one; the connection stays open until the test ends.
func declare(t *testing.T, url string, length int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /flespi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", length)
	return c
}

// TestDeclaredLengthIsReserved: the memory a declared Content-Length makes
// the exporter allocate is taken from http.max_in_flight_bytes before it
// is allocated, not as the bytes trickle in: clients that declare large
// bodies and send a byte now and then cannot hold more than the budget
// (100 such clients took 2.96 GB while the budget counted bytes); one past
// it is answered 503 at once, and a small batch still fits beside them.
func TestDeclaredLengthIsReserved(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.HTTP.MaxBodySize, c.HTTP.MaxInFlightBytes = 8<<20, 20<<20 })
	declare(t, ex.URL, 8<<20)
	declare(t, ex.URL, 8<<20)
	deadline := time.Now().Add(5 * time.Second)
	for ex.MetricValue(t, "flespi_exporter_in_flight_bytes") < 16<<20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ex.MetricValue(t, "flespi_exporter_in_flight_bytes"); got < 16<<20 {
		t.Fatalf("in_flight_bytes = %v with two bodies of 8 MiB declared and allocated", got)
	}
	third := declare(t, ex.URL, 8<<20)
	_ = third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("no answer to a third body of 8 MiB past the budget: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(answer), "http.max_in_flight_bytes") {
		t.Errorf("a third body of 8 MiB past the budget: %d %q", resp.StatusCode, answer)
	}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"b","timestamp":1717171200,"battery.voltage":4}]`), nil); code != 200 {
		t.Errorf("a small batch within the budget: %d %s", code, answer)
	}
}
