package exporter_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// benchConfig is the repository's config.toml with env as its
// environment, and a data directory of the benchmark's own.
func benchConfig(b *testing.B, env map[string]string) *config.Loaded {
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse("config.toml", string(data), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	cfg.Data.Dir = b.TempDir()
	return cfg
}

// benchStart builds the exporter of cfg.
func benchStart(b *testing.B, cfg *config.Loaded) (*exporter.Server, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	srv, err := exporter.New(cfg, exporter.Options{Registry: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv, reg
}

// benchServer is a Prometheus-only exporter with the default config.toml.
func benchServer(b *testing.B, maxSeries string) (*exporter.Server, *prometheus.Registry) {
	cfg := benchConfig(b, nil)
	cfg.Prometheus.MaxSeries = 10_000_000
	return benchStart(b, cfg)
}

// receive posts the workload's batches in turn until the benchmark
// ends, going on with the workload's next one in device time past its
// end (a batch sent again would be late to every device), and reports
// the time a message.
func receive(b *testing.B, h http.Handler, w *workload.Workload) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(w.Batches) {
			b.StopTimer()
			w, i = w.Next(), 0
			b.StartTimer()
		}
		req := httptest.NewRequest(http.MethodPost, "/flespi", bytes.NewReader(w.Batches[i]))
		i++
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/msg")
}

// BenchmarkReceiveBatch is the receiver's work for one batch of 500
// realistic messages without InfluxDB: read, decode, map, encode line
// protocol, update the gauges. ns/msg is the figure to compare.
func BenchmarkReceiveBatch(b *testing.B) {
	srv, _ := benchServer(b, "")
	receive(b, srv.Handler(), workload.Generate(50_000, 1000, 500, 1))
}

// BenchmarkScrape400k is one /metrics scrape with about 400,000 device
// series (13,500 devices of ~30 gauges), gzip-compressed as Prometheus asks.
func BenchmarkScrape400k(b *testing.B) {
	srv, _ := benchServer(b, "")
	h := srv.Handler()
	w := workload.Generate(13_500, 13_500, 500, 2)
	for _, body := range w.Batches {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/flespi", bytes.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
	b.ReportAllocs()
	start := time.Now()
	metrics := srv.InternalHandler() // /metrics is the operator's
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		metrics.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
	_ = start
}

// BenchmarkReceiveBatchInflux is BenchmarkReceiveBatch with the writes to a
// real InfluxDB 1.8 (its time is not the exporter's CPU: profile with
// -cpuprofile to see the exporter's share).
func BenchmarkReceiveBatchInflux(b *testing.B) {
	db := testinflux.Start(b)
	srv, _ := benchStart(b, benchConfig(b, map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token}))
	receive(b, srv.Handler(), workload.Generate(50_000, 1000, 500, 1))
}

// BenchmarkReceiveBatchEvents is BenchmarkReceiveBatch with the fleet
// events off and on (reorder window 0s, so that the detector runs within
// the batch; a tank capacity, so that the fuel detector does): what the
// events cost a message, in one process.
func BenchmarkReceiveBatchEvents(b *testing.B) {
	w := workload.Generate(50_000, 1000, 500, 1)
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := benchConfig(b, nil)
			cfg.Prometheus.MaxSeries = 10_000_000
			cfg.Events.Enabled, cfg.Events.ReorderWindow, cfg.Events.TankCapacity = on, 0, 400
			srv, _ := benchStart(b, cfg)
			receive(b, srv.Handler(), w)
		})
	}
}
