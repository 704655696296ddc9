package influx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
)

// newSink returns a Sink writing to db in chunks of batchSize points,
// with the given write timeout and dead-letter file ("" for none).
func newSink(t *testing.T, db *fakeinflux.Server, batchSize int, timeout time.Duration, dead string) (*Sink, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(config.InfluxDB{
		URL: db.URL, Org: "", Bucket: "db/autogen", Token: "user:pass",
		Timeout: config.Duration(timeout), BatchSize: batchSize, DeadLetterFile: dead,
	}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, reg
}

// linesOf makes Lines of n points, one message each.
func linesOf(n int) *Lines {
	l := &Lines{}
	for i := range n {
		l.AddMessage([]byte(`{"ident":"d` + itoa(i) + `"}`))
		l.Text = append(l.Text, "m,ident=d"+itoa(i)+" v="+itoa(i)+"i 1717171200000000000\n"...)
		l.EndLine()
	}
	return l
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestWriteInChunks(t *testing.T) {
	db := fakeinflux.Start(t)
	s, reg := newSink(t, db, 3, 5*time.Second, "")
	w, err := s.Write(context.Background(), linesOf(7))
	if err != nil || w.Points != 7 || w.DeadLettered != 0 {
		t.Fatalf("Write: %+v %v", w, err)
	}
	if got := db.Requests(); len(got) != 3 || got[0] != 3 || got[1] != 3 || got[2] != 1 {
		t.Errorf("requests of %v lines, want 3, 3, 1", got)
	}
	if got := testutil.ToFloat64(s.m.pointsWritten); got != 7 {
		t.Errorf("points_written_total = %v", got)
	}
	if n, _ := testutil.GatherAndCount(reg); n == 0 {
		t.Error("no metrics registered")
	}
}

// TestRetryPassing: a 5xx, or a 429 with Retry-After, is retried once
// within the request, and the batch is stored.
func TestRetryPassing(t *testing.T) {
	for _, a := range []fakeinflux.Answer{
		{Status: http.StatusServiceUnavailable, Body: "shard unavailable"},
		{Status: http.StatusTooManyRequests, Header: map[string]string{"Retry-After": "1"}, Body: "too many requests"},
	} {
		db := fakeinflux.Start(t)
		s, _ := newSink(t, db, 100, 5*time.Second, "")
		db.Then(a)
		w, err := s.Write(context.Background(), linesOf(4))
		if err != nil || w.Points != 4 || len(db.Lines()) != 4 {
			t.Errorf("%d then success: %+v %v, %d lines stored", a.Status, w, err, len(db.Lines()))
		}
		if got := testutil.ToFloat64(s.m.writeErrors.WithLabelValues(errTransient)); got != 1 {
			t.Errorf("%d: write_errors_total{kind=transient} = %v, want 1", a.Status, got)
		}
	}
}

// TestFailingIsNotAcknowledged: InfluxDB failing twice in a row (or
// answering 429 again) fails the write, which the caller answers 503.
func TestFailingIsNotAcknowledged(t *testing.T) {
	db := fakeinflux.Start(t)
	s, _ := newSink(t, db, 100, 5*time.Second, "")
	db.Then(fakeinflux.Answer{Status: 500, Body: "boom"}, fakeinflux.Answer{Status: 429, Header: map[string]string{"Retry-After": "5"}})
	_, err := s.Write(context.Background(), linesOf(2))
	if err == nil || permanent(errors.Unwrap(err)) || !strings.Contains(err.Error(), "InfluxDB write failed") {
		t.Fatalf("err = %v, want a transient write failure", err)
	}
	if st := s.Status(); st.LastError == "" || st.LastErrorTime.IsZero() {
		t.Errorf("status after the failure: %+v", st)
	}
}

// TestSlowWriteTimesOut: a write slower than influxdb.timeout fails (and
// is retried once) instead of holding the batch for ever.
func TestSlowWriteTimesOut(t *testing.T) {
	db := fakeinflux.Start(t)
	s, _ := newSink(t, db, 100, 200*time.Millisecond, "")
	db.Then(fakeinflux.Answer{Status: 204, Delay: 2 * time.Second}, fakeinflux.Answer{Status: 204, Delay: 2 * time.Second})
	start := time.Now()
	_, err := s.Write(context.Background(), linesOf(1))
	if err == nil {
		t.Fatal("a write slower than the timeout succeeded")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("the failed write took %v; the timeout is 200ms (twice, and the retry delay)", d)
	}
}

// TestTooLargeIsSplit: 413 makes the sink split the request until the
// halves pass.
func TestTooLargeIsSplit(t *testing.T) {
	db := fakeinflux.Start(t)
	s, _ := newSink(t, db, 100, 5*time.Second, "")
	db.Then(fakeinflux.Answer{Status: http.StatusRequestEntityTooLarge, Body: "request entity too large"})
	w, err := s.Write(context.Background(), linesOf(8))
	if err != nil || w.Points != 8 || w.DeadLettered != 0 || len(db.Lines()) != 8 {
		t.Fatalf("Write: %+v %v, %d lines stored", w, err, len(db.Lines()))
	}
	if got := db.Requests(); len(got) != 3 || got[0] != 8 || got[1] != 4 || got[2] != 4 {
		t.Errorf("requests of %v lines, want 8 (refused), 4, 4", got)
	}
}

// TestRefusedLinesAreDeadLettered: lines InfluxDB refuses for a reason it
// does not name are bisected out, kept in the dead-letter file with their
// messages, and the rest is stored.
func TestRefusedLinesAreDeadLettered(t *testing.T) {
	db := fakeinflux.Start(t)
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	s, _ := newSink(t, db, 100, 5*time.Second, dead)
	db.Refuse(func(line string) string {
		if strings.Contains(line, "ident=d3 ") || strings.Contains(line, "ident=d5 ") {
			return `unable to parse: invalid number`
		}
		return ""
	})
	w, err := s.Write(context.Background(), linesOf(8))
	if err != nil || w.Points != 6 || w.DeadLettered != 2 {
		t.Fatalf("Write: %+v %v", w, err)
	}
	data, err := os.ReadFile(dead)
	if err != nil {
		t.Fatal(err)
	}
	entries := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(entries) != 2 {
		t.Fatalf("%d dead letters, want 2:\n%s", len(entries), data)
	}
	var e DeadLetter
	if err := json.Unmarshal([]byte(entries[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Line != "m,ident=d3 v=3i 1717171200000000000" || string(e.Message) != `{"ident":"d3"}` || !strings.Contains(e.Error, "unable to parse") || e.Field != "" {
		t.Errorf("dead letter %+v", e)
	}
	if st := s.Status(); st.DeadLetters != 2 {
		t.Errorf("status dead letters %d", st.DeadLetters)
	}
}

// TestCheck: a write of nothing tells a configuration InfluxDB refuses (a
// token, its rights, a bucket: each named with the setting to fix) from
// one it takes, and from an InfluxDB that wants points (400, past those
// checks); a refused write leaves the same fault, a stored one clears it.
func TestCheck(t *testing.T) {
	db := fakeinflux.Start(t)
	s, _ := newSink(t, db, 100, time.Second, "")
	ctx := context.Background()
	if err := s.Check(ctx); err != nil || s.Fault() != nil {
		t.Fatalf("Check: %v, fault %v", err, s.Fault())
	}
	for status, want := range map[int]string{
		401: "check INFLUXDB_TOKEN", 403: "may not write to bucket \"db/autogen\"", 404: "has no bucket \"db/autogen\"",
	} {
		db.ThenCheck(fakeinflux.Answer{Status: status, Body: `{"error":"no"}`})
		err := s.Check(ctx)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Status != status || !strings.Contains(err.Error(), want) || s.Fault() == nil {
			t.Errorf("%d: %v, fault %v; want a ConfigError saying %q", status, err, s.Fault(), want)
		}
	}
	db.ThenCheck(fakeinflux.Answer{Status: 400, Body: `{"error":"no points"}`})
	if err := s.Check(ctx); err != nil || s.Fault() != nil {
		t.Errorf("400 to a write of nothing: %v, fault %v", err, s.Fault())
	}
	db.Then(fakeinflux.Answer{Status: 401}, fakeinflux.Answer{Status: 401})
	l := conflictLines(1)
	if _, err := s.Write(ctx, l); err == nil || !strings.Contains(err.Error(), "INFLUXDB_TOKEN") || s.Fault() == nil {
		t.Errorf("a write refused for the token: %v, fault %v", err, s.Fault())
	}
	// The status page: the setting to fix, first.
	if r := s.Report(); r.OK || len(r.Attention) != 1 || r.Attention[0].Level != "bad" || !strings.Contains(r.Attention[0].Fix, "INFLUXDB_TOKEN") {
		t.Errorf("the report of a refused token: %+v", r)
	}
	if _, err := s.Write(ctx, l); err != nil || s.Fault() != nil {
		t.Errorf("a stored write: %v, fault %v", err, s.Fault())
	}
}

// conflictLines makes Lines of n points of two fields, speed (float) and
// mcc (integer), each of a message of its own.
func conflictLines(n int) *Lines {
	l := &Lines{}
	for i := range n {
		l.AddMessage([]byte(`{"ident":"d` + itoa(i) + `"}`))
		l.Text = append(l.Text, "flespi,ident=d"+itoa(i)+" speed="+itoa(i%90)+",gsm.mcc=262i,z=1 "+itoa(1717171200+i)+"000000000\n"...)
		l.EndLine()
	}
	return l
}

// TestConflictTakesOneRequest: a field type conflict that InfluxDB names
// costs one more request per chunk, not a bisection: the field's values
// are taken out, the rest of every point is stored, the values are
// dead-lettered once each, and a second write of the same lines (flespi
// resends when our answer is lost) adds no dead letter.
func TestConflictTakesOneRequest(t *testing.T) {
	db := fakeinflux.Start(t)
	db.Conflict("flespi", "gsm.mcc", "string")
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	s, _ := newSink(t, db, 5000, 10*time.Second, dead)
	const n = 100_000
	start := time.Now()
	w, err := s.Write(context.Background(), conflictLines(n))
	took := time.Since(start)
	if err != nil || w.Points != n || w.DeadLettered != n {
		t.Fatalf("Write: %+v %v", w, err)
	}
	if reqs := len(db.Requests()); reqs != 2*n/5000 {
		t.Errorf("%d requests, want %d (two per chunk)", reqs, 2*n/5000)
	}
	t.Logf("%d points with a conflicting field written in %v", n, took)
	lines := db.Lines()
	if last := lines[len(lines)-1]; strings.Contains(last, "gsm.mcc") || !strings.Contains(last, "speed=") || !strings.Contains(last, ",z=1 ") {
		t.Errorf("stored %q: want the point without gsm.mcc", last)
	}
	data, _ := os.ReadFile(dead)
	var e DeadLetter
	if err := json.Unmarshal(data[:strings.IndexByte(string(data), '\n')], &e); err != nil {
		t.Fatal(err)
	}
	if e.Field != "gsm.mcc=262i" || !strings.Contains(e.Line, "gsm.mcc=262i") || !strings.Contains(e.Error, `input field "gsm.mcc"`) {
		t.Errorf("dead letter %+v", e)
	}
	// The same batch again: stored again, no dead letter twice.
	w, err = s.Write(context.Background(), conflictLines(n))
	if err != nil || w.DeadLettered != 0 {
		t.Errorf("second write: %+v %v", w, err)
	}
	again, _ := os.ReadFile(dead)
	if len(again) != len(data) {
		t.Errorf("the dead-letter file grew from %d to %d bytes on the resend", len(data), len(again))
	}
	// A new sink on the same file (a restart) remembers it too.
	s2, _ := newSink(t, db, 5000, 10*time.Second, dead)
	if w, err := s2.Write(context.Background(), conflictLines(10)); err != nil || w.DeadLettered != 0 {
		t.Errorf("after a restart: %+v %v", w, err)
	}
}

// TestWriteDeadline: a write that InfluxDB keeps refusing in ways that
// make the sink bisect ends within twice influxdb.timeout with an error
// (the batch is answered 503 instead of past the answer's own timeout).
func TestWriteDeadline(t *testing.T) {
	db := fakeinflux.Start(t)
	db.Refuse(func(string) string { return "unable to parse" })
	for range 64 {
		db.Then(fakeinflux.Answer{Status: 400, Body: "unable to parse", Delay: 60 * time.Millisecond})
	}
	s, _ := newSink(t, db, 5000, 300*time.Millisecond, "")
	start := time.Now()
	_, err := s.Write(context.Background(), linesOf(1000))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("after %v: %v", time.Since(start), err)
	}
}
