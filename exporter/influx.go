package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
	"unsafe"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// retryDelay is the pause before the one retry of a failed write inside a
// request; more would keep flespi waiting, and flespi resends anyway.
const retryDelay = 250 * time.Millisecond

// influxWriter stores batches in InfluxDB through the v2 write API, which
// InfluxDB 1.8+, 2.x and 3 all serve. Writes block until InfluxDB answers,
// so that a request is acknowledged only once its points are stored.
type influxWriter struct {
	client    influxdb2.Client
	api       api.WriteAPIBlocking
	batchSize int
	dead      *deadLetterFile // nil: rejected points are only logged
	m         *metrics
	log       *slog.Logger

	mu    sync.Mutex // guards state
	state influxState
}

// influxState is what the status page says of InfluxDB.
type influxState struct {
	LastWrite     time.Time `json:"last_write"`
	LastError     string    `json:"last_error"`
	LastErrorTime time.Time `json:"last_error_time"`
	DeadLetters   int64     `json:"dead_letters"`
}

func newInfluxWriter(cfg config.InfluxDB, m *metrics, log *slog.Logger) (*influxWriter, error) {
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
	w := &influxWriter{
		client:    client,
		api:       client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		batchSize: cfg.BatchSize,
		m:         m,
		log:       log,
	}
	if cfg.DeadLetterFile != "" {
		dead, err := openDeadLetters(cfg.DeadLetterFile)
		if err != nil {
			client.Close()
			return nil, err
		}
		w.dead = dead
	}
	return w, nil
}

// writeResult says what became of a batch's points.
type writeResult struct {
	written      int
	deadLettered int
}

// write stores every line of b, in chunks of batchSize. It returns an error
// when the batch must not be acknowledged: InfluxDB unreachable or failing,
// or rejected points that could not be kept in the dead-letter file.
// Points InfluxDB refuses for good (a field type conflict) are dead-lettered
// and do not fail the batch, so that the stream does not stall on them.
func (w *influxWriter) write(ctx context.Context, b *batch) (writeResult, error) {
	var res writeResult
	var rejected []rejection
	for lo := 0; lo < b.points(); lo += w.batchSize {
		hi := min(lo+w.batchSize, b.points())
		if err := w.writeRange(ctx, b, lo, hi, &res, &rejected); err != nil {
			return res, err
		}
	}
	if len(rejected) > 0 {
		if err := w.deadLetter(b, rejected); err != nil {
			return res, err
		}
		res.deadLettered = len(rejected)
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
func (w *influxWriter) writeRange(ctx context.Context, b *batch, lo, hi int, res *writeResult, rejected *[]rejection) error {
	err := w.send(ctx, b.span(lo, hi))
	switch {
	case err == nil:
		res.written += hi - lo
		w.m.pointsWritten.Add(float64(hi - lo))
		return nil
	case !permanent(err):
		return fmt.Errorf("InfluxDB write failed: %w", err)
	case hi-lo == 1:
		*rejected = append(*rejected, rejection{line: lo, err: err})
		return nil
	}
	mid := lo + (hi-lo)/2
	if err := w.writeRange(ctx, b, lo, mid, res, rejected); err != nil {
		return err
	}
	return w.writeRange(ctx, b, mid, hi, res, rejected)
}

// send makes one write request, and one more after a short pause when the
// first fails for a reason that may pass (network, 5xx, 429).
func (w *influxWriter) send(ctx context.Context, lines []byte) error {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		// The client takes strings; the chunk is not modified while it
		// reads it, so it gets the bytes as they are, without a copy.
		err := w.api.WriteRecord(ctx, unsafe.String(unsafe.SliceData(lines), len(lines)))
		w.m.writeDuration.Observe(time.Since(start).Seconds())
		w.note(err)
		if err == nil {
			return nil
		}
		if permanent(err) {
			w.m.writeErrors.WithLabelValues(errRejected).Inc()
			return err
		}
		w.m.writeErrors.WithLabelValues(errTransient).Inc()
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
func (w *influxWriter) note(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.state.LastWrite = time.Now()
		return
	}
	w.state.LastError, w.state.LastErrorTime = err.Error(), time.Now()
}

func (w *influxWriter) status() influxState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
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
func (w *influxWriter) deadLetter(b *batch, rejected []rejection) error {
	w.m.deadLetters.Add(float64(len(rejected)))
	w.mu.Lock()
	w.state.DeadLetters += int64(len(rejected))
	w.mu.Unlock()
	for _, r := range rejected {
		w.log.Warn("InfluxDB rejected a point for good", "err", r.err, "line", string(b.span(r.line, r.line+1)))
	}
	if w.dead == nil {
		return nil
	}
	if err := w.dead.write(b, rejected, time.Now()); err != nil {
		return fmt.Errorf("keeping %d rejected points in the dead-letter file: %w", len(rejected), err)
	}
	return nil
}

// ping checks that InfluxDB answers.
func (w *influxWriter) ping(ctx context.Context) error {
	ok, err := w.client.Ping(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("InfluxDB did not answer its ping")
	}
	return nil
}

func (w *influxWriter) close() {
	w.client.Close()
	if w.dead != nil {
		_ = w.dead.close()
	}
}
