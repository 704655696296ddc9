package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
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

// BenchmarkDeviceMemory is the heap a device costs the events output:
// the heap with the output less the heap without, after every device
// has reported 15 times, 10 s apart, arriving as made: its detector (a
// reorder window of 0s) and, with the default window of two minutes,
// the twelve messages it holds as well.
func BenchmarkDeviceMemory(b *testing.B) {
	for _, c := range []struct {
		name   string
		window time.Duration
	}{{"state", 0}, {"with 2m of 10s reports held", 2 * time.Minute}} {
		b.Run(c.name, func(b *testing.B) {
			const devices = 20_000
			bodies := reports(devices, 15)
			for range b.N {
				without := heapAfter(b, bodies, nil)
				with := heapAfter(b, bodies, func(cfg config.Events) pipeline.Output {
					cfg.ReorderWindow = config.Duration(c.window)
					cfg.TankCapacity = 400
					o, err := events.New(events.Options{Config: cfg, Dir: b.TempDir(), Namespace: "flespi",
						Reg: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					return o
				})
				b.ReportMetric(float64(with-without)/devices, "B/device")
			}
		})
	}
}

// reports are n bodies, each one report of every device, 10 s apart.
func reports(devices, n int) [][]byte {
	start := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	var out [][]byte
	for tick := range n {
		var b strings.Builder
		b.WriteByte('[')
		for d := range devices {
			if d > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"ident":"86352%010d","device.name":"truck-%d","timestamp":%d,"position.latitude":%.6f,"position.longitude":%.6f,`+
				`"position.speed":%d,"position.valid":true,"position.satellites":11,"engine.ignition.status":true,"can.fuel.level":%d,"vehicle.mileage":%.1f}`,
				d, d, start.Add(time.Duration(tick)*10*time.Second).Unix(), 52+float64(d)/float64(devices), 13+float64(tick)/1000, 40+tick, 60-tick/5, 1000+float64(tick)/10)
		}
		b.WriteByte(']')
		out = append(out, []byte(b.String()))
	}
	return out
}

// heapAfter is the live heap once bodies went through a pipeline with the
// output made by out (none when nil), which is kept alive until then.
func heapAfter(b *testing.B, bodies [][]byte, out func(config.Events) pipeline.Output) int64 {
	cfg := config.Default()
	cfg.Mapping.Tags = []string{"device.name"}
	m, err := mapping.Compile(cfg.Mapping, nil)
	if err != nil {
		b.Fatal(err)
	}
	var outs []pipeline.Output
	if out != nil {
		outs = append(outs, out(cfg.Events))
	}
	pipe := pipeline.Must(pipeline.New(m, outs, nil, slog.New(slog.DiscardHandler)))
	start := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	for tick, body := range bodies {
		bt := pipe.Begin(pipeline.SourceHTTP, start.Add(time.Duration(tick)*10*time.Second+time.Second))
		if err := bt.Add(body); err != nil {
			b.Fatal(err)
		}
		if _, err := bt.Store(context.Background()); err != nil {
			b.Fatal(err)
		}
		bt.Release()
	}
	n := heapInUse()
	runtime.KeepAlive(pipe)
	runtime.KeepAlive(outs)
	return n
}

// heapInUse is the live heap after a collection, bytes.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
