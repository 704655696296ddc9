package events_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// BenchmarkEventsPerMessage is the events output's own cost a message on
// flespi-bench's workload (ignition, positions, speed, mileage, a fuel
// level with a tank capacity), its stores left out: the pipeline with
// the output, less the pipeline without (BenchmarkPipelineAlone).
func BenchmarkEventsPerMessage(b *testing.B) { benchPipeline(b, true) }

// BenchmarkPipelineAlone is the pipeline without outputs, to subtract.
func BenchmarkPipelineAlone(b *testing.B) { benchPipeline(b, false) }

func benchPipeline(b *testing.B, withEvents bool) {
	w := workload.Generate(100_000, 1000, 500, 1)
	cfg := config.Default()
	cfg.Events.ReorderWindow = 0
	cfg.Events.TankCapacity = 400
	m, err := mapping.Compile(cfg.Mapping, nil)
	if err != nil {
		b.Fatal(err)
	}
	var outs []pipeline.Output
	if withEvents {
		rec := &recorder{got: map[string]fleet.Record{}}
		o, err := events.New(events.Options{Config: cfg.Events, Dir: b.TempDir(), Namespace: "flespi", Writers: []events.Writer{rec},
			Reg: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		outs = append(outs, o)
	}
	pipe := pipeline.Must(pipeline.New(m, outs, nil, slog.New(slog.DiscardHandler)))
	at := time.Now()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		body := w.Batches[i%len(w.Batches)]
		at = at.Add(time.Second)
		bt := pipe.Begin(pipeline.SourceHTTP, at)
		if err := bt.Add(body); err != nil {
			b.Fatal(err)
		}
		if _, err := bt.Store(context.Background()); err != nil {
			b.Fatal(err)
		}
		n += bt.Counts().Messages
		bt.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}
