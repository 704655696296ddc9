package remotewrite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// receiver is a remote write 1.0 receiver in the test: it decodes what it
// gets, series by series, or answers what the test scripts. With inOrder
// it refuses a request whole, as Prometheus without an out-of-order
// window does, when a sample is older than its series' newest (400 "out
// of order sample"); with delay it takes that long to answer.
type receiver struct {
	mu       sync.Mutex
	script   []int // status codes of the next requests
	series   map[string][]string
	headers  http.Header
	inOrder  bool
	head     map[string]int64
	delay    time.Duration
	requests int
	// What an inOrder receiver answers a refused request (400 "out of
	// order sample" when zero).
	refuseStatus int
	refuseAnswer string
}

type received struct {
	key     string
	ms      []int64
	samples []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	compressed, _ := io.ReadAll(r.Body)
	time.Sleep(rc.delay)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	rc.headers = r.Header.Clone()
	if len(rc.script) > 0 {
		code := rc.script[0]
		rc.script = rc.script[1:]
		http.Error(w, "scripted", code)
		return
	}
	raw, err := snappy.Decode(nil, compressed)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var got []received
	each(raw, func(num protowire.Number, ts []byte) {
		var labels []string
		var rs received
		each(ts, func(num protowire.Number, v []byte) {
			switch num {
			case 1:
				var kv [2]string
				each(v, func(num protowire.Number, s []byte) { kv[num-1] = string(s) })
				labels = append(labels, kv[0]+"="+kv[1])
			case 2:
				var value float64
				var ms int64
				for len(v) > 0 {
					n, typ, k := protowire.ConsumeTag(v)
					v = v[k:]
					if n == 1 && typ == protowire.Fixed64Type {
						value = math.Float64frombits(binary.LittleEndian.Uint64(v))
						v = v[8:]
					} else {
						x, k := protowire.ConsumeVarint(v)
						ms, v = int64(x), v[k:]
					}
				}
				rs.ms = append(rs.ms, ms)
				rs.samples = append(rs.samples, fmt.Sprintf("%v@%d", value, ms))
			}
		})
		rs.key = strings.Join(labels, ",")
		got = append(got, rs)
	})
	if rc.inOrder {
		head := maps.Clone(rc.head)
		if head == nil {
			head = map[string]int64{}
		}
		for _, rs := range got {
			for _, ms := range rs.ms {
				if h, ok := head[rs.key]; ok && ms < h {
					if rc.refuseStatus == 0 {
						rc.refuseStatus, rc.refuseAnswer = http.StatusBadRequest, "out of order sample"
					}
					http.Error(w, rc.refuseAnswer, rc.refuseStatus)
					return
				}
				head[rs.key] = ms
			}
		}
		rc.head = head
	}
	for _, rs := range got {
		rc.series[rs.key] = append(rc.series[rs.key], rs.samples...)
	}
	w.WriteHeader(http.StatusNoContent)
}

// startReceiver serves rc until the test ends.
func startReceiver(t *testing.T, rc *receiver) (*receiver, *httptest.Server) {
	rc.series = map[string][]string{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

// each calls f with the length-delimited fields of a message.
func each(b []byte, f func(protowire.Number, []byte)) {
	for len(b) > 0 {
		num, _, n := protowire.ConsumeTag(b)
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		b = b[n:]
		f(num, v)
	}
}

// pipe is a pipeline with a Writer to url; it returns the Writer's
// dead-letter file too.
func pipe(t *testing.T, url string, change ...func(*config.RemoteWrite)) (*pipeline.Pipeline, string, *prometheus.Registry) {
	t.Helper()
	return pipeRules(t, url, "[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n", change...)
}

// pipeRules is pipe with the rules of text.
func pipeRules(t *testing.T, url, text string, change ...func(*config.RemoteWrite)) (*pipeline.Pipeline, string, *prometheus.Registry) {
	t.Helper()
	cfg, err := config.Parse("config.toml", text, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rw := config.Default().RemoteWrite
	rw.URL, rw.BearerToken, rw.Timeout = url, "rw-secret", config.Duration(2*time.Second)
	for _, c := range change {
		c(&rw)
	}
	reg := prometheus.NewRegistry()
	var p *pipeline.Pipeline
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	w, err := New(rw, func() (l, r *mappingGauge) { return p.Mapping().DeviceGauges() }, dead, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	p = pipeline.Must(pipeline.New(cfg.Mapping, []pipeline.Output{w}, reg, slog.New(slog.DiscardHandler)))
	return p, dead, reg
}

// track is 60 messages of one device a minute apart over the last hour,
// shuffled: a tracker's buffered hour, delivered in one batch.
func track(now time.Time) ([]byte, []int64) {
	var msgs []string
	var times []int64
	for i := range 60 {
		at := now.Add(-time.Hour).Add(time.Duration(i) * time.Minute).Truncate(time.Second)
		times = append(times, at.UnixMilli())
		msgs = append(msgs, fmt.Sprintf(`{"ident":"truck","timestamp":%d,"position.speed":%d}`, at.Unix(), 36*i))
	}
	rand.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return []byte("[" + strings.Join(msgs, ",") + "]"), times
}

// TestBufferedTrackWithItsTimes: a buffered hour sent in one shuffled
// batch reaches the receiver as one series with a sample at each
// message's own time, in order, the exact value (km/h as m/s), beside
// the device gauges; with the configured bearer token.
func TestBufferedTrackWithItsTimes(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{})
	p, _, reg := pipe(t, srv.URL)
	body, times := track(time.Now())
	received := time.Now()
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body, received); err != nil {
		t.Fatal(err)
	}
	speed := rc.series["__name__=flespi_position_speed_meters_per_second,ident=truck"]
	if len(speed) != 60 {
		t.Fatalf("%d samples of the speed; series %v", len(speed), rc.series)
	}
	for i, s := range speed {
		if want := fmt.Sprintf("%v@%d", float64(36*i)/3.6, times[i]); s != want {
			t.Errorf("sample %d: %s, want %s", i, s, want)
		}
	}
	if last := rc.series["__name__=flespi_device_last_message_timestamp_seconds,ident=truck"]; len(last) != 60 {
		t.Errorf("last-message samples: %v", last)
	}
	if got := rc.headers.Get("Authorization"); got != "Bearer rw-secret" {
		t.Errorf("Authorization %q", got)
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "flespi_exporter_remote_write_samples_total")); got != 121 {
		t.Errorf("samples sent %v, want 121 (60 speeds, 60 last-message, 1 last-received)", got)
	}
}

// TestGaugesChangingWithinABatch: a device whose messages carry other
// parameters from one message to the next within a batch, or two
// parameters mapped to one series: each series is sent once a request,
// with a sample at each message's time (the last of a time winning).
func TestGaugesChangingWithinABatch(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{})
	rules := "[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n" +
		"[[rule]]\nmatch = \"wheel.*\"\ngauge = \"wheel\"\nunit = \"km/h\"\n"
	p, _, _ := pipeRules(t, srv.URL, rules)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }
	for _, batch := range [][]string{
		{`"position.speed":36`, `"position.speed":72,"wheel.front":36`, `"position.speed":108`}, // another list, then the first
		{`"wheel.front":36,"position.speed":144,"wheel.rear":72`, `"position.speed":180`},       // one series twice in a message
	} {
		var msgs []string
		for _, params := range batch {
			i := len(rc.series["__name__=flespi_position_speed_meters_per_second,ident=truck"]) + len(msgs)/2
			msgs = append(msgs, fmt.Sprintf(`{"ident":"truck","timestamp":%d,%s}`, at(i).Unix(), params),
				fmt.Sprintf(`{"ident":"van","timestamp":%d,"position.speed":%d}`, at(i).Unix(), 36*i))
		}
		if _, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte("["+strings.Join(msgs, ",")+"]"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	samples := func(values ...string) string {
		var out []string
		for _, v := range values {
			i, _ := strconv.Atoi(v[strings.IndexByte(v, '@')+1:])
			out = append(out, v[:strings.IndexByte(v, '@')+1]+strconv.FormatInt(at(i).UnixMilli(), 10))
		}
		return strings.Join(out, " ")
	}
	for key, want := range map[string]string{
		"__name__=flespi_position_speed_meters_per_second,ident=truck": samples("10@0", "20@1", "30@2", "40@3", "50@4"),
		"__name__=flespi_wheel_meters_per_second,ident=truck":          samples("10@1", "20@3"),
		"__name__=flespi_position_speed_meters_per_second,ident=van":   samples("0@0", "10@1", "20@2", "30@3", "40@4"),
	} {
		if got := strings.Join(rc.series[key], " "); got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
	if rc.requests != 2 {
		t.Errorf("%d requests, want 2", rc.requests)
	}
}

// TestReceiverFailures: a 503 is tried again and the batch stored; a 400
// (refused for good) of a request that the receiver then takes in halves
// costs one sample, dead-lettered, and does not hold the batch; a receiver
// that keeps failing leaves the batch not stored (503 to flespi).
func TestReceiverFailures(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{})
	p, deadPath, reg := pipe(t, srv.URL)
	body, _ := track(time.Now())
	rc.script = []int{503}
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now()); err != nil {
		t.Errorf("a 503 then success: %v", err)
	}
	rc.script = []int{400}
	res, err := p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now())
	if err != nil {
		t.Errorf("a 400: %v", err)
	}
	// The first half taken whole, the refusal lies in the second: halved
	// down to its last sample without sending it whole.
	if got := testutil.ToFloat64(mustCounter(t, reg, "flespi_exporter_remote_write_samples_refused_total")); got != 1 || res.Of("remote_write").Refused != 1 || res.Of("remote_write").Stored != 120 {
		t.Errorf("refused %v (answer %+v), want 1 of the 121 samples", got, res)
	}
	dead, _ := os.ReadFile(deadPath)
	if n := strings.Count(string(dead), "\n"); n != 1 || !strings.Contains(string(dead), "400 Bad Request") {
		t.Errorf("dead letters (%d lines, want 1):\n%.600s", n, dead)
	}
	rc.script = []int{404} // a wrong URL: the batch waits for the fix, nothing is counted refused
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now()); err == nil || !strings.Contains(err.Error(), "remote_write.url") {
		t.Errorf("a 404: %v", err)
	}
	rc.script = []int{503, 503, 503}
	_, err = p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now())
	var nse *pipeline.NotStoredError
	if err == nil || !strings.Contains(err.Error(), "remote write failed") || !asNotStored(err, &nse) {
		t.Errorf("a receiver failing: %v", err)
	}
}

type mappingGauge = mapping.Gauge

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	v := tb.CounterValue(t, reg, name)
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "x"}, func() float64 { return v })
}

func asNotStored(err error, target **pipeline.NotStoredError) bool { return errors.As(err, target) }

// TestProtocol2: with protocol "2.0" the samples go as a remote write 2.0
// request (symbols, gauge metadata) that a receiver of 2.0 decodes to the
// same series and times; a receiver of 1.0 only, which answers 2xx
// without the written counts, leaves the batch not stored instead of
// losing it.
func TestProtocol2(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	speaks2 := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !speaks2 {
			w.WriteHeader(http.StatusNoContent) // 1.0 only: no counts
			return
		}
		compressed, _ := io.ReadAll(r.Body)
		raw, _ := snappy.Decode(nil, compressed)
		var req writev2.Request
		if err := req.UnmarshalVT(raw); err != nil || !strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request") {
			http.Error(w, fmt.Sprint(err), 400)
			return
		}
		n := 0
		for _, ts := range req.Timeseries {
			var labels []string
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				labels = append(labels, req.Symbols[ts.LabelsRefs[i]]+"="+req.Symbols[ts.LabelsRefs[i+1]])
			}
			if ts.Metadata.GetType() != writev2.Metadata_METRIC_TYPE_GAUGE {
				http.Error(w, "not a gauge", 400)
				return
			}
			for _, s := range ts.Samples {
				got[strings.Join(labels, ",")] = append(got[strings.Join(labels, ",")], fmt.Sprintf("%v@%d", s.Value, s.Timestamp))
				n++
			}
		}
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(n))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	text := "[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n"
	cfg, err := config.Parse("config.toml", text, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rw := config.Default().RemoteWrite
	rw.URL, rw.Protocol, rw.Timeout = srv.URL, "2.0", config.Duration(2*time.Second)
	var p *pipeline.Pipeline
	w, err := New(rw, func() (l, r *mappingGauge) { return p.Mapping().DeviceGauges() }, "", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p = pipeline.Must(pipeline.New(cfg.Mapping, []pipeline.Output{w}, nil, slog.New(slog.DiscardHandler)))
	body, times := track(time.Now())
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now()); err != nil {
		t.Fatal(err)
	}
	speed := got["__name__=flespi_position_speed_meters_per_second,ident=truck"]
	if len(speed) != 60 || speed[0] != fmt.Sprintf("0@%d", times[0]) || speed[59] != fmt.Sprintf("%v@%d", float64(36*59)/3.6, times[59]) {
		t.Errorf("speed over 2.0: %v", speed)
	}
	speaks2 = false
	if _, err := p.Process(context.Background(), pipeline.SourceHTTP, body, time.Now()); err == nil {
		t.Error("a receiver of 1.0 only stored a 2.0 batch")
	}
}

// TestRenamedDeviceSeries: a device's next message finds its series where
// its mapping.Device keeps them, unless the device's tags changed: renamed
// (another device.name), its samples go to the series of its new labels.
func TestRenamedDeviceSeries(t *testing.T) {
	rc, srv := startReceiver(t, &receiver{})
	p, _, _ := pipeRules(t, srv.URL, "[mapping]\ntags = [\"device.name\"]\n[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n")
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, name := range []string{"north", "north", "south", "south"} {
		body := fmt.Sprintf(`[{"ident":"truck","timestamp":%d,"device.name":%q,"position.speed":%d}]`, start.Add(time.Duration(i)*time.Minute).Unix(), name, 36*(i+1))
		if _, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(body), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ms := func(i int) int64 { return start.Add(time.Duration(i) * time.Minute).UnixMilli() }
	for key, want := range map[string]string{
		"__name__=flespi_position_speed_meters_per_second,device_name=north,ident=truck": fmt.Sprintf("10@%d 20@%d", ms(0), ms(1)),
		"__name__=flespi_position_speed_meters_per_second,device_name=south,ident=truck": fmt.Sprintf("30@%d 40@%d", ms(2), ms(3)),
	} {
		if got := strings.Join(rc.series[key], " "); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
}
