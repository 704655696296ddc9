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
// the batch is not stored (503: flespi sends it again). What a receiver
// refuses for good (4xx: samples out of order beyond its window, too old)
// is counted and logged, and does not block the rest.
package remotewrite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Writer is the remote write output.
type Writer struct {
	api     *remote.API
	v2      bool // remote write 2.0: symbols, metadata, written counts in the answer
	batch   int
	timeout time.Duration
	devices func() (last, received *mapping.Gauge) // the device gauges' names
	log     *slog.Logger
	sent    prometheus.Counter
	refused prometheus.Counter
	failed  prometheus.Counter
	dead    *appendfile.Log // refused samples; nil: only counted and logged
}

// New returns the output for cfg; devices names the device gauges (the
// mapping's); the samples a receiver refuses for good are kept in
// deadLetters (JSON lines; "" keeps none).
func New(cfg config.RemoteWrite, devices func() (last, received *mapping.Gauge), deadLetters string, reg prometheus.Registerer, log *slog.Logger) (*Writer, error) {
	timeout := time.Duration(cfg.Timeout)
	client := &http.Client{Timeout: timeout, Transport: &auth{cfg: cfg, next: http.DefaultTransport}}
	// The client takes the receiver's base and its path apart.
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("remote_write.url: %w", err)
	}
	path := u.Path
	if path == "" || path == "/" {
		path = "/api/v1/write"
	}
	u.Path, u.RawPath = "", ""
	api, err := remote.NewAPI(u.String(),
		remote.WithAPIPath(path),
		remote.WithAPIHTTPClient(client),
		// Two tries more within the time a stream batch waits for its
		// answer; flespi (or the MQTT broker) keeps the batch past that.
		remote.WithAPIBackoff(remote.BackoffConfig{Min: 250 * time.Millisecond, Max: 2 * time.Second, MaxRetries: 2}),
	)
	if err != nil {
		return nil, fmt.Errorf("remote_write.url: %w", err)
	}
	w := &Writer{api: api, v2: cfg.Protocol == "2.0", batch: cfg.BatchSize, timeout: timeout, devices: devices, log: log,
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_samples_total",
			Help: "Samples the remote write receiver took."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_samples_refused_total",
			Help: "Samples in requests the remote write receiver refused for good (4xx: out of order beyond its window, too old, invalid); not sent again."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_remote_write_failures_total",
			Help: "Batches not stored because the remote write receiver failed (5xx, 429, unreachable) after retries: answered 503, sent again by flespi."}),
	}
	if reg != nil {
		reg.MustRegister(w.sent, w.refused, w.failed)
	}
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

// auth adds the configured authentication to each request.
type auth struct {
	cfg  config.RemoteWrite
	next http.RoundTripper
}

func (a *auth) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case a.cfg.BearerToken != "":
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+a.cfg.BearerToken)
	case a.cfg.Username != "":
		r = r.Clone(r.Context())
		r.SetBasicAuth(a.cfg.Username, a.cfg.Password)
	}
	return a.next.RoundTrip(r)
}

// NewPart returns the Writer's part of a pipeline batch.
func (w *Writer) NewPart() pipeline.Part {
	last, received := w.devices()
	return &part{last: last, received: received, series: map[string]*series{}}
}

// Store sends the batch's samples, a request of at most batch_size
// samples at a time.
func (w *Writer) Store(ctx context.Context, p pipeline.Part) (pipeline.Stored, error) {
	pt := p.(*part)
	if len(pt.order) == 0 {
		return pipeline.Stored{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*w.timeout)
	defer cancel()
	for _, req := range pt.requests(w.batch) {
		var err error
		if w.v2 {
			// A receiver of 1.0 only answers 2xx without the written
			// counts: the client takes that as a failure (503), not as
			// stored.
			_, err = w.api.Write(ctx, remote.WriteV2MessageType, req.v2())
		} else {
			_, err = w.api.Write(ctx, remote.WriteV1MessageType, req)
		}
		switch {
		case err == nil:
			w.sent.Add(float64(req.samples))
		case permanent(err):
			// Refused for good: sending it again cannot help, and it must
			// not hold the batches behind it; kept, so that nothing
			// acknowledged is lost without a trace.
			if derr := w.deadLetter(req, err); derr != nil {
				return pipeline.Stored{}, derr
			}
			w.refused.Add(float64(req.samples))
			w.log.Warn("the remote write receiver refused samples for good (out of order beyond its window, too old, or invalid); kept in the dead-letter file, not sent again",
				"samples", req.samples, "err", err)
		default:
			w.failed.Inc()
			return pipeline.Stored{}, fmt.Errorf("remote write failed: %w", err)
		}
	}
	return pipeline.Stored{}, nil
}

// deadLetter keeps a refused request's series: a JSON line each, with
// its labels, its samples ([Unix ms, value]) and the receiver's answer.
func (w *Writer) deadLetter(req *writeRequest, cause error) error {
	if w.dead == nil {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var lines []byte
	for _, se := range req.series {
		labels := make(map[string]string, len(se.labels))
		for _, l := range se.labels {
			labels[l.Name] = l.Value
		}
		samples := make([][2]any, len(se.samples))
		for i, s := range se.samples {
			samples[i] = [2]any{s.ms, s.value}
		}
		line, err := json.Marshal(struct {
			Time    string            `json:"time"`
			Error   string            `json:"error"`
			Series  map[string]string `json:"series"`
			Samples [][2]any          `json:"samples"`
		}{now, cause.Error(), labels, samples})
		if err != nil {
			return err
		}
		lines = append(append(lines, line...), '\n')
	}
	if err := w.dead.Append(lines); err != nil {
		return fmt.Errorf("keeping %d samples the remote write receiver refused in the dead-letter file: %w", req.samples, err)
	}
	return nil
}

// permanent reports whether the receiver refused a request for what it
// holds (a 4xx other than 429, which the client tried again already).
func permanent(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	msg := err.Error()
	i := strings.Index(msg, "server returned HTTP status ")
	if i < 0 {
		return false
	}
	code := msg[i+len("server returned HTTP status "):]
	// 400, 409, 422: the samples (out of order, too old, invalid). Not
	// 401, 403, 404 (the URL or the credentials: a fix of the
	// configuration cures them, so the batch waits), nor 413 or 429.
	return strings.HasPrefix(code, "400") || strings.HasPrefix(code, "409") || strings.HasPrefix(code, "422")
}
