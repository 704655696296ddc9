package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// compile is the internal tests' helper (export_test.go).
var compile = pipeline.Compile

// newSink returns an InfluxDB sink writing to a fake InfluxDB.
func newSink(t *testing.T) (*fakeinflux.Server, *influx.Sink) {
	t.Helper()
	db := fakeinflux.Start(t)
	sink, err := influx.New(config.InfluxDB{URL: db.URL, Bucket: "db/autogen", Timeout: config.Duration(5 * time.Second), BatchSize: 100}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	return db, sink
}

// recorder is a Follower that keeps the idents of what it was told.
type recorder struct{ idents []string }

type recorderPart struct{ idents []string }

func (r *recorder) NewPart() pipeline.Part { return &recorderPart{} }
func (r *recorder) Name() string           { return "recorder" }
func (r *recorder) Follow(p pipeline.Part, _ *pipeline.Batch) {
	r.idents = append(r.idents, p.(*recorderPart).idents...)
}
func (p *recorderPart) Add(_ *message.Message, r *mapping.Result, _ time.Time) {
	p.idents = append(p.idents, r.Ident)
}
func (p *recorderPart) Reset()    { p.idents = p.idents[:0] }
func (p *recorderPart) Size() int { return 16 * cap(p.idents) }

func gaugeText(t *testing.T, g *gauges.Store) string {
	t.Helper()
	var b strings.Builder
	if err := g.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

const body = `[{"ident":"a","timestamp":1717171200,"speed":12,"x":1},{"timestamp":1717171200,"speed":3},` +
	`{"ident":"b","timestamp":1717171201,"speed":"fast"}]`

// TestProcessToEveryOutput: a body goes to InfluxDB, then the gauges and
// the status recorder, and the Result counts what was stored and skipped.
func TestProcessToEveryOutput(t *testing.T) {
	db, sink := newSink(t)
	g := gauges.New(100, time.Now, prometheus.NewRegistry(), quiet)
	reg, err := devices.Open(devices.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m := compile(t, `rule = [{match = "speed"}]`)
	p := pipeline.Must(pipeline.New(m, []pipeline.Output{rec, g, sink, reg}, prometheus.NewRegistry(), quiet)) // the store is written first
	res, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(body), time.Unix(1717171300, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.Result{Messages: 3, SkippedMessages: 1, SkippedValues: 1, Unmapped: 1, // "x" unmapped
		Outputs: []pipeline.OutputResult{{Output: "influxdb", Stored: pipeline.Stored{Unit: "points", Stored: 1}}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if lines := db.Lines(); len(lines) != 1 || lines[0] != "flespi,ident=a speed=12 1717171200000000000" {
		t.Errorf("lines %q", lines)
	}
	if text := gaugeText(t, g); !strings.Contains(text, `flespi_speed{ident="a"} 12`) {
		t.Errorf("gauges:\n%s", text)
	}
	var devs strings.Builder
	if err := reg.WriteText(&devs, m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(devs.String(), `flespi_device_last_message_timestamp_seconds{ident="b"} 1.717171201e+09`) ||
		!strings.Contains(devs.String(), `flespi_device_last_received_timestamp_seconds{ident="a"} 1.7171713e+09`) {
		t.Errorf("device registry:\n%s", devs.String())
	}
	if fmt.Sprint(rec.idents) != "[a b]" {
		t.Errorf("the recorder saw %v, want [a b]", rec.idents)
	}
	if s := res.String(); s != "stored: 3 messages, 1 skipped messages; influxdb: 1 points, 0 dead-lettered" {
		t.Errorf("answer %q", s)
	}
}

// TestNotStoredUpdatesNothing: while InfluxDB fails, the batch is not
// stored, and neither the gauges nor the status follow it (it comes again).
func TestNotStoredUpdatesNothing(t *testing.T) {
	db, sink := newSink(t)
	db.Then(fakeinflux.Answer{Status: 503}, fakeinflux.Answer{Status: 503})
	g := gauges.New(100, time.Now, prometheus.NewRegistry(), quiet)
	rec := &recorder{}
	p := pipeline.Must(pipeline.New(compile(t, `rule = [{match = "speed"}]`), []pipeline.Output{sink, g, rec}, nil, quiet))
	_, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(body), time.Now())
	var notStored *pipeline.NotStoredError
	if !errors.As(err, &notStored) {
		t.Fatalf("err = %v, want a NotStoredError", err)
	}
	if g.Count() != 0 || len(rec.idents) != 0 {
		t.Errorf("after a failed write: %d gauge series, status saw %v", g.Count(), rec.idents)
	}
}

// TestInvalidBody: a body that is not messages is an InvalidError, and
// nothing of it reaches an output.
func TestInvalidBody(t *testing.T) {
	g := gauges.New(100, time.Now, prometheus.NewRegistry(), quiet)
	p := pipeline.Must(pipeline.New(compile(t, `rule = [{match = "speed"}]`), []pipeline.Output{g}, nil, quiet))
	if res, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(body), time.Now()); err != nil ||
		res.String() != "stored: 3 messages as gauges (no store), 1 skipped messages" {
		t.Errorf("Prometheus only: %q %v", res.String(), err)
	}
	_, err := p.Process(context.Background(), pipeline.SourceHTTP, []byte(`[{"ident":"a","timestamp":1,"speed":1},{"ident":`), time.Now())
	var invalid *pipeline.InvalidError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "invalid JSON") {
		t.Fatalf("err = %v, want an InvalidError", err)
	}
	if g.Count() != 1 { // the first, valid body's
		t.Errorf("%d gauge series after an invalid body", g.Count())
	}
}
