package remotewrite

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// fleetBatch is 10 messages of each of devices devices, a second apart
// from start, device by device interleaved as flespi sends them.
func fleetBatch(devices int, start time.Time) []string {
	var msgs []string
	for i := range 10 {
		for d := range devices {
			at := start.Add(time.Duration(i) * time.Second)
			msgs = append(msgs, fmt.Sprintf(`{"ident":"dev-%03d","timestamp":%d,"position.speed":%d}`, d, at.Unix(), 10*i+d))
		}
	}
	return msgs
}

func body(msgs []string) []byte { return []byte("[" + strings.Join(msgs, ",") + "]") }

// TestOneLateSampleCostsOnlyItself: a receiver that, as Prometheus
// without an out-of-order window, refuses a whole request for one sample
// older than its series' newest. A batch of 1,000 messages of 100 devices
// with one device's late message is answered 200: the late message's
// samples are dead-lettered, every other sample is stored, in few
// requests; with Prometheus' 500 "too old sample" (out of its window) the
// same.
func TestOneLateSampleCostsOnlyItself(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		answer string
	}{
		{"out of order, 400", http.StatusBadRequest, "out of order sample"},
		{"too old, 500", http.StatusInternalServerError, "too old sample"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, srv := startReceiver(t, &receiver{inOrder: true, refuseStatus: c.status, refuseAnswer: c.answer})
			p, deadPath, reg := pipe(t, srv.URL)
			start := time.Now().Add(-time.Hour).Truncate(time.Second)
			// Device 7 reported at start+20 s already.
			first := fmt.Sprintf(`[{"ident":"dev-007","timestamp":%d,"position.speed":1}]`, start.Add(20*time.Second).Unix())
			if _, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(first), time.Now()); err != nil {
				t.Fatal(err)
			}
			msgs := fleetBatch(100, start.Add(30*time.Second))
			late := fmt.Sprintf(`{"ident":"dev-007","timestamp":%d,"position.speed":99}`, start.Unix())
			msgs = append(msgs[:500], append([]string{late}, msgs[500:]...)...)
			rc.requests = 0
			res, err := p.Process(context.Background(), pipeline.SourceHTTP, body(msgs), time.Now())
			if err != nil {
				t.Fatalf("the batch was not stored: %v", err)
			}
			// The late message's speed and last-message samples.
			if res.Of("remote_write").Refused != 2 || res.Of("remote_write").Stored != 2100 {
				t.Errorf("answer %+v: want 2 samples refused, 2,100 stored", res)
			}
			for d := range 100 {
				key := fmt.Sprintf("__name__=flespi_position_speed_meters_per_second,ident=dev-%03d", d)
				want := 10
				if d == 7 {
					want = 11
				}
				if got := len(rc.series[key]); got != want {
					t.Errorf("%s: %d samples, want %d", key, got, want)
				}
			}
			series := 300.0 // speed, last message, last received of 100 devices
			if limit := 2*math.Log2(series) + 2; float64(rc.requests) > limit {
				t.Errorf("%d write requests, want at most 2·log2(%v)+2 = %.1f", rc.requests, series, limit)
			}
			t.Logf("%d write requests", rc.requests)
			dead, _ := os.ReadFile(deadPath)
			entries, bad, err := deadletter.ReadSeries(dead)
			if err != nil || len(bad) > 0 || len(entries) != 2 {
				t.Fatalf("dead letters %v %v:\n%s", err, bad, dead)
			}
			for _, e := range entries {
				if e.Labels["ident"] != "dev-007" || len(e.Samples) != 1 || e.Samples[0].MS != start.UnixMilli() || !strings.Contains(e.Error, c.answer) {
					t.Errorf("dead letter %+v", e)
				}
			}
			if got := testutil.ToFloat64(mustCounter(t, reg, "flespi_exporter_remote_write_samples_refused_total")); got != 2 {
				t.Errorf("refused counter %v", got)
			}
			if !strings.Contains(res.String(), "remote_write: 2100 samples, 2 dead-lettered") {
				t.Errorf("the answer does not say what remote write refused: %s", res)
			}
		})
	}
}

// TestSlowReceiver: a receiver taking 0.8 s a request with timeout = 1s
// and batch_size = 100: each request gets its own second, a try of the
// batch ends after three requests' time, and flespi's resends carry on
// from what the receiver took: stored within three sends, each sample
// counted once.
func TestSlowReceiver(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{delay: 800 * time.Millisecond})
	p, _, reg := pipe(t, srv.URL, func(rw *config.RemoteWrite) {
		rw.Timeout, rw.BatchSize = config.Duration(time.Second), 100
	})
	msgs := fleetBatch(30, time.Now().Add(-time.Hour)) // 300 messages: 600 samples and 30 received
	sends := 0
	for ; sends < 3; sends++ {
		if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body(msgs), time.Now()); err == nil {
			break
		}
	}
	if sends == 3 {
		t.Fatalf("not stored in 3 sends; the receiver had %d requests", rc.requests)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for d := range 30 {
		key := fmt.Sprintf("__name__=flespi_position_speed_meters_per_second,ident=dev-%03d", d)
		if got := len(dedupe(rc.series[key])); got != 10 {
			t.Errorf("%s: %d samples, want 10", key, got)
		}
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "flespi_exporter_remote_write_samples_total")); got < 630 || got > 630+30*float64(sends) {
		t.Errorf("samples counted %v after %d sends: want 600 message samples once, and a last-received sample a device a send taken", got, sends+1)
	}
	t.Logf("stored at send %d, %d requests", sends+1, rc.requests)
}

func dedupe(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// TestRedirects: credentials go to the configured host only. A 307 to
// another host is not followed (that host gets nothing, the batch is not
// stored, the error names the setting); a 307 on the same host is, with
// the credentials; a 302, which turns the POST into a GET, is never taken
// for stored.
func TestRedirects(t *testing.T) {
	var mu sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Method+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer other.Close()
	rc := &receiver{series: map[string][]string{}}
	var redirect struct {
		code int
		to   string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/write" && redirect.code != 0 {
			http.Redirect(w, r, redirect.to, redirect.code)
			return
		}
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p, _, _ := pipe(t, srv.URL+"/api/v1/write")
	batch, _ := track(time.Now())

	redirect.code, redirect.to = http.StatusTemporaryRedirect, other.URL+"/api/v1/write"
	_, err := p.Process(context.Background(), pipeline.SourceHTTP, batch, time.Now())
	if err == nil || !strings.Contains(err.Error(), "another host") || !strings.Contains(err.Error(), "remote_write.url") {
		t.Errorf("a 307 to another host: %v", err)
	}
	mu.Lock()
	if len(elsewhere) != 0 {
		t.Errorf("the other host got %v", elsewhere)
	}
	mu.Unlock()

	redirect.code, redirect.to = http.StatusFound, "/moved"
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, batch, time.Now()); err == nil {
		t.Error("a 302 (the write turned into a GET) was taken for stored")
	}

	redirect.code, redirect.to = http.StatusTemporaryRedirect, "/moved"
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, batch, time.Now()); err != nil {
		t.Fatalf("a 307 on the same host: %v", err)
	}
	if got := rc.headers.Get("Authorization"); got != "Bearer rw-secret" {
		t.Errorf("the redirected write had Authorization %q", got)
	}
	if n := len(rc.series["__name__=flespi_position_speed_meters_per_second,ident=truck"]); n != 60 {
		t.Errorf("%d samples after the 307", n)
	}
}

// TestSameTimeLastWins: two messages of a device with the same time: the
// last wins, as on /metrics and in InfluxDB.
func TestSameTimeLastWins(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{})
	p, _, _ := pipe(t, srv.URL)
	at := time.Now().Add(-time.Minute).Unix()
	batch := fmt.Sprintf(`[{"ident":"twice","timestamp":%d,"position.speed":36},{"ident":"twice","timestamp":%d,"position.speed":72}]`, at, at)
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(batch), time.Now()); err != nil {
		t.Fatal(err)
	}
	got := rc.series["__name__=flespi_position_speed_meters_per_second,ident=twice"]
	if want := fmt.Sprintf("20@%d", at*1000); len(got) != 1 || got[0] != want {
		t.Errorf("samples %v, want [%s]", got, want)
	}
}

// TestReplayDeadLetters: what a receiver refused, read back from the
// dead-letter file, is taken once the receiver can (its window widened);
// what it refuses again is dead-lettered again.
func TestReplayDeadLetters(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{inOrder: true})
	p, deadPath, _ := pipe(t, srv.URL)
	now := time.Now().Truncate(time.Second)
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(fmt.Sprintf(`[{"ident":"a","timestamp":%d,"position.speed":36}]`, now.Unix())), now); err != nil {
		t.Fatal(err)
	}
	late := fmt.Sprintf(`[{"ident":"a","timestamp":%d,"position.speed":72},{"ident":"a","timestamp":%d,"position.speed":108}]`, now.Add(-2*time.Minute).Unix(), now.Add(-time.Minute).Unix())
	if res, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(late), now); err != nil || res.Of("remote_write").Refused != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	data, _ := os.ReadFile(deadPath)
	if !deadletter.IsSeriesFile(data) {
		t.Fatalf("not recognised as a dead-letter file:\n%s", data)
	}
	entries, _, err := deadletter.ReadSeries(data)
	if err != nil {
		t.Fatal(err)
	}
	rc.inOrder = false // the window widened
	u, _ := url.Parse(srv.URL)
	rw := config.Default().RemoteWrite
	rw.URL = u.String()
	w, err := New(rw, nil, "", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	taken, refused, err := w.Replay(context.Background(), entries)
	if err != nil || taken != 4 || refused != 0 {
		t.Fatalf("replay: %d taken, %d refused, %v", taken, refused, err)
	}
	got := rc.series["__name__=flespi_position_speed_meters_per_second,ident=a"]
	want := []string{fmt.Sprintf("10@%d", now.UnixMilli()), fmt.Sprintf("20@%d", now.Add(-2*time.Minute).UnixMilli()), fmt.Sprintf("30@%d", now.Add(-time.Minute).UnixMilli())}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after the replay %v, want %v (the replayed samples in time order)", got, want)
	}
}
