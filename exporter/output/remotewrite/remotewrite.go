// Package remotewrite is the Prometheus remote write output: every gauge
// sample a batch maps, and the device gauges, sent to a remote write
// receiver (Prometheus, VictoriaMetrics, Mimir, Thanos) with the message's
// own time, under the names and labels /metrics has. /metrics shows only
// the newest value, at scrape time: a tracker's hour out of coverage,
// delivered at once, never exists for PromQL; here it does, at the times
// it was recorded.
//
// It is a pipeline store, like InfluxDB: a batch is answered only once the
// receiver has taken it; 5xx and 429 are tried again with backoff, then
// the batch is not stored (503: flespi sends it again), and what the
// receiver took of it is not sent again with it. What a receiver refuses
// for good (4xx, or Prometheus' 500 "too old sample") is narrowed down to
// the samples refused (narrow.go): those are counted, logged and kept in a
// dead-letter file that import replays (deadletter.go); every other sample
// of the request is stored.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Writer is the remote write output.
type Writer struct {
	sender   *sender
	batch    int
	devices  func() (last, received *mapping.Gauge) // the device gauges' names
	log      *slog.Logger
	sent     prometheus.Counter
	refused  prometheus.Counter
	failed   prometheus.Counter
	reqs     prometheus.Counter
	deadMu   sync.Mutex
	dead     *appendfile.Log // refused samples; nil: only counted and logged
	done     *doneSet        // what the receiver has of batches that failed
	series   *table          // every part's series
	url      string
	deadPath string

	mu        sync.Mutex // guards the state below, for the status page
	lastWrite time.Time
	lastError string
	errorTime time.Time
	refusedN  int64
}

// New returns the output for cfg; devices names the device gauges (the
// mapping's); the samples a receiver refuses for good are kept in
// deadLetters (JSON lines; "" keeps none).
func New(cfg config.RemoteWrite, devices func() (last, received *mapping.Gauge), deadLetters string, reg prometheus.Registerer, log *slog.Logger) (*Writer, error) {
	snd, err := newSender(cfg)
	if err != nil {
		return nil, err
	}
	f := promauto.With(reg)
	w := &Writer{sender: snd, batch: cfg.BatchSize, devices: devices, log: log, done: newDoneSet(doneSeries), series: newTable(), url: cfg.URL, deadPath: deadLetters,
		sent: f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_samples_total",
			Help: "Samples the remote write receiver took, each once."}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_samples_refused_total",
			Help: "Samples the remote write receiver refused for good (out of order beyond its window, too old, invalid): kept in the remote write dead-letter file, not sent again."}),
		failed: f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_failures_total",
			Help: "Batches not stored because the remote write receiver failed (5xx, 429, unreachable, a setting it refuses) after retries: answered 503, sent again by flespi."}),
		reqs: f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_requests_total",
			Help: "Write requests sent to the remote write receiver, tries and the halves of refused requests included."}),
	}
	snd.sent = w.reqs
	if deadLetters != "" {
		// Bounded like InfluxDB's: 64 MiB, one old file kept.
		if w.dead, err = appendfile.Open(deadLetters, 64<<20, 1); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Close closes the dead-letter file.
func (w *Writer) Close() {
	if w.dead != nil {
		w.dead.Close()
	}
}

// Name is the output's name in answers, logs and metrics.
func (w *Writer) Name() string { return "remote_write" }

// NewPart returns the Writer's part of a pipeline batch.
func (w *Writer) NewPart() pipeline.Part {
	last, received := w.devices()
	return &part{t: w.series, last: last, received: received, index: map[*series]int{}, slots: map[*deviceSeries]slot{},
		upload: message.NewIndex("server.timestamp", "rest.timestamp")}
}

// batchTries bounds the time a batch is sent for: three requests' time
// (remote_write.timeout each). A slow receiver that takes each request
// still gets the whole batch over flespi's resends, since a resend leaves
// out what it took already.
const batchTries = 3

// encoded are the uncompressed requests' buffers, reused.
var encoded = sync.Pool{New: func() any { return new([]byte) }}

// StoreTime is the longest a batch is sent for with cfg (0 without
// remote write).
func StoreTime(cfg config.RemoteWrite) time.Duration {
	if cfg.URL == "" {
		return 0
	}
	return batchTries * time.Duration(cfg.Timeout)
}

// Store sends the batch's samples, a request of at most batch_size
// samples at a time. What the receiver refuses for good is narrowed down
// to the samples refused, which are dead-lettered; the rest is stored. A
// passing failure leaves the batch not stored; what the receiver took of
// it by then is remembered, and not sent again when the batch comes back.
func (w *Writer) Store(ctx context.Context, p pipeline.Part) (pipeline.Stored, error) {
	pt := p.(*part)
	if len(pt.batch) == 0 {
		return pipeline.Stored{Unit: "samples"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, batchTries*w.sender.timeout)
	defer cancel()
	st := pipeline.Stored{Unit: "samples"}
	buf := encoded.Get().(*[]byte)
	defer encoded.Put(buf)
	reqs := pt.requests(w.batch, w.done.filter(pt.received.Name))
	for i, req := range reqs {
		taken, dead, err := w.send(ctx, req, buf)
		st.Stored += taken
		st.Refused += dead
		if err != nil {
			w.failed.Inc()
			w.done.add(reqs[:i], pt.received.Name)
			w.note(err)
			return st, fmt.Errorf("remote write failed: %w", err)
		}
	}
	w.note(nil)
	return st, nil
}

// note keeps the outcome of a batch for the status page.
func (w *Writer) note(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.lastError, w.errorTime = err.Error(), time.Now()
		return
	}
	w.lastWrite = time.Now()
}

// Report is the output's section of the status page, and what of it
// needs the operator.
func (w *Writer) Report() pipeline.Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	failing := w.lastError != "" && w.errorTime.After(w.lastWrite)
	last := "never"
	if !w.lastWrite.IsZero() {
		last = w.lastWrite.UTC().Format(time.RFC3339)
	}
	r := pipeline.Report{Output: w.Name(), OK: !failing, Facts: []string{w.url, "last write " + last}}
	if failing {
		r.Attention = append(r.Attention, pipeline.Attention{Level: "bad", What: "the remote write receiver is failing: " + w.lastError,
			Fix: "batches are not acknowledged until it takes them (flespi and the MQTT broker keep them); check remote_write.url and the receiver"})
	}
	if w.refusedN > 0 {
		r.Attention = append(r.Attention, pipeline.Attention{Level: "warn",
			What: fmt.Sprintf("%d samples were refused by the remote write receiver and kept as dead letters", w.refusedN),
			Fix:  "widen the receiver's out-of-order window (or fix what it refused), move " + w.deadPath + " aside and replay the moved file with flespi-exporter import"})
	}
	return r
}

// send sends one request and settles a refusal of it.
func (w *Writer) send(ctx context.Context, req *writeRequest, buf *[]byte) (taken, dead int, err error) {
	if *buf, err = req.encode(*buf, w.sender.v2); err != nil {
		return 0, 0, err
	}
	err = w.sender.post(ctx, *buf, req.samples)
	var r *refusal
	switch {
	case err == nil:
		taken = req.samples
	case errors.As(err, &r):
		taken, dead, err = w.narrow(ctx, req, r)
	}
	w.sent.Add(float64(taken))
	if dead > 0 {
		w.refused.Add(float64(dead))
		w.mu.Lock()
		w.refusedN += int64(dead)
		w.mu.Unlock()
		w.log.Warn("the remote write receiver refused samples for good (out of order beyond its window, too old, or invalid); kept in the remote write dead-letter file, not sent again; the other samples of the request are stored",
			"refused", dead, "stored", taken, "answer", r.Error())
	}
	return taken, dead, err
}
