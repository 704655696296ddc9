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
	"github.com/flespi-exporter/flespi-exporter/internal/fakeinflux"
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

// TestRefusedLinesAreDeadLettered: lines InfluxDB refuses for good are
// split out, kept in the dead-letter file with their messages, and the
// rest is stored.
func TestRefusedLinesAreDeadLettered(t *testing.T) {
	db := fakeinflux.Start(t)
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	s, _ := newSink(t, db, 100, 5*time.Second, dead)
	db.Refuse(func(line string) string {
		if strings.Contains(line, "ident=d3 ") || strings.Contains(line, "ident=d5 ") {
			return `field type conflict: input field "v" on measurement "m" is type integer, already exists as type string`
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
	if e.Line != "m,ident=d3 v=3i 1717171200000000000" || string(e.Message) != `{"ident":"d3"}` || !strings.Contains(e.Error, "field type conflict") {
		t.Errorf("dead letter %+v", e)
	}
	if st := s.Status(); st.DeadLetters != 2 {
		t.Errorf("status dead letters %d", st.DeadLetters)
	}
}

func TestPing(t *testing.T) {
	db := fakeinflux.Start(t)
	s, _ := newSink(t, db, 100, time.Second, "")
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
