// Package influx is the InfluxDB output: it writes line protocol through
// the v2 write API (which InfluxDB 1.8+, 2.x and 3 all serve) in chunks,
// retries what may pass, splits a request InfluxDB refuses until the
// refused points stand alone, and keeps those in a dead-letter file.
//
// Writes block until InfluxDB answers, so that a caller acknowledges a
// batch only once its points are stored.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/internal/bytesview"
)

// retryDelay is the pause before the one retry of a failed write inside a
// request; more would keep flespi waiting, and flespi resends anyway.
const retryDelay = 250 * time.Millisecond

// Sink stores Lines in InfluxDB. It is safe for concurrent use: concurrent
// batches are written concurrently.
type Sink struct {
	client    influxdb2.Client
	api       api.WriteAPIBlocking
	batchSize int
	dead      *deadLetterFile // nil: rejected points are only logged
	m         *metrics
	log       *slog.Logger

	mu    sync.Mutex // guards state
	state State
}

// State is what the status page says of InfluxDB.
type State struct {
	LastWrite     time.Time `json:"last_write"`
	LastError     string    `json:"last_error"`
	LastErrorTime time.Time `json:"last_error_time"`
	DeadLetters   int64     `json:"dead_letters"`
}

// New returns a Sink for cfg; no connection is made yet. It opens the
// dead-letter file when cfg names one. Its metrics are registered with
// reg, unless reg is nil (the import command has no /metrics).
func New(cfg config.InfluxDB, reg prometheus.Registerer, log *slog.Logger) (*Sink, error) {
	timeout := time.Duration(cfg.Timeout)
	httpClient := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64, // one per concurrent batch, so writes reuse connections
			IdleConnTimeout:     90 * time.Second,
		},
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPClient(httpClient).
		SetPrecision(time.Nanosecond).
		SetLogLevel(0) // the exporter logs for itself
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	s := &Sink{
		client:    client,
		api:       client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		batchSize: cfg.BatchSize,
		m:         newMetrics(reg),
		log:       log,
	}
	if cfg.DeadLetterFile != "" {
		dead, err := openDeadLetters(cfg.DeadLetterFile)
		if err != nil {
			client.Close()
			return nil, err
		}
		s.dead = dead
	}
	return s, nil
}

// BatchSize is the most points one write request carries.
func (s *Sink) BatchSize() int { return s.batchSize }

// Written says what became of the points of Lines.
type Written struct {
	Points       int // stored
	DeadLettered int // refused for good, kept in the dead-letter file (or logged)
}

// Write stores every line of l, in chunks of influxdb.batch_size. It
// returns an error when the lines must not be acknowledged: InfluxDB
// unreachable or failing, or refused points that could not be kept in the
// dead-letter file. Points InfluxDB refuses for good (a field type
// conflict) are dead-lettered and do not fail the write, so that a stream
// does not stall on them.
func (s *Sink) Write(ctx context.Context, l *Lines) (Written, error) {
	var res Written
	var rejected []rejection
	for lo := 0; lo < l.Len(); lo += s.batchSize {
		hi := min(lo+s.batchSize, l.Len())
		if err := s.writeRange(ctx, l, lo, hi, &res, &rejected); err != nil {
			return res, err
		}
	}
	if len(rejected) > 0 {
		if err := s.deadLetter(l, rejected); err != nil {
			return res, err
		}
		res.DeadLettered = len(rejected)
	}
	return res, nil
}

// rejection is a line InfluxDB refused for good.
type rejection struct {
	line int
	err  error
}

// writeRange writes lines [lo, hi). When InfluxDB refuses the request for
// its content (400, 413, 422), the range is split in halves until the
// refused lines stand alone: writes are idempotent, so rewriting lines that
// InfluxDB had already kept from a partial write changes nothing.
func (s *Sink) writeRange(ctx context.Context, l *Lines, lo, hi int, res *Written, rejected *[]rejection) error {
	err := s.send(ctx, l.Span(lo, hi))
	switch {
	case err == nil:
		res.Points += hi - lo
		s.m.pointsWritten.Add(float64(hi - lo))
		return nil
	case !permanent(err):
		return fmt.Errorf("InfluxDB write failed: %w", err)
	case hi-lo == 1:
		*rejected = append(*rejected, rejection{line: lo, err: err})
		return nil
	}
	mid := lo + (hi-lo)/2
	if err := s.writeRange(ctx, l, lo, mid, res, rejected); err != nil {
		return err
	}
	return s.writeRange(ctx, l, mid, hi, res, rejected)
}

// send makes one write request, and one more after a short pause when the
// first fails for a reason that may pass (network, 5xx, 429).
func (s *Sink) send(ctx context.Context, lines []byte) error {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		// The client takes strings; the chunk is not modified while it
		// reads it, so it gets the bytes as they are, without a copy.
		err := s.api.WriteRecord(ctx, bytesview.String(lines))
		s.m.writeDuration.Observe(time.Since(start).Seconds())
		s.note(err)
		if err == nil {
			return nil
		}
		if permanent(err) {
			s.m.writeErrors.WithLabelValues(errRejected).Inc()
			return err
		}
		s.m.writeErrors.WithLabelValues(errTransient).Inc()
		if attempt > 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryDelay):
		}
	}
}

// note keeps the outcome of a write for the status page.
func (s *Sink) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.state.LastWrite = time.Now()
		return
	}
	s.state.LastError, s.state.LastErrorTime = err.Error(), time.Now()
}

// Status returns what the status page shows of InfluxDB.
func (s *Sink) Status() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// permanent reports whether InfluxDB refused a write for its content, so
// that sending it again can never succeed. Everything else (network errors,
// timeouts, 5xx, 429, and also 401, 403 and 404, which a fix of the
// configuration cures) is worth retrying: flespi keeps the batch.
func permanent(err error) bool {
	var he *ihttp.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			return true
		}
	}
	return false
}

// deadLetter keeps the rejected lines with the messages they came from.
func (s *Sink) deadLetter(l *Lines, rejected []rejection) error {
	s.m.deadLetters.Add(float64(len(rejected)))
	s.mu.Lock()
	s.state.DeadLetters += int64(len(rejected))
	s.mu.Unlock()
	for _, r := range rejected {
		s.log.Warn("InfluxDB rejected a point for good", "err", r.err, "line", string(l.Span(r.line, r.line+1)))
	}
	if s.dead == nil {
		return nil
	}
	if err := s.dead.write(l, rejected, time.Now()); err != nil {
		return fmt.Errorf("keeping %d rejected points in the dead-letter file: %w", len(rejected), err)
	}
	return nil
}

// Ping checks that InfluxDB answers.
func (s *Sink) Ping(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("InfluxDB did not answer its ping")
	}
	return nil
}

// Close closes the client and the dead-letter file. Writes in flight must
// have finished.
func (s *Sink) Close() {
	s.client.Close()
	if s.dead != nil {
		_ = s.dead.close()
	}
}
