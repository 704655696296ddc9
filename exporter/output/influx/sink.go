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
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/bytesview"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// sendPolicy is how a write request that failed for a reason that may
// pass is tried again: once, after a short pause.
var sendPolicy = retry.Policy{First: 250 * time.Millisecond, Tries: 2}

// Sink stores Lines in InfluxDB. It is safe for concurrent use: concurrent
// batches are written concurrently.
type Sink struct {
	client    influxdb2.Client
	api       api.WriteAPIBlocking
	batchSize int
	timeout   time.Duration
	dead      *deadLetterFile // nil: rejected points are only logged
	m         *metrics
	log       *slog.Logger
	org       string // for the messages of a ConfigError
	bucket    string
	url       string
	deadPath  string         // the dead-letter file; "" when off
	rules     *config.Loaded // whose field types are checked at start; nil: none

	mu    sync.Mutex // guards state and fault
	state State
	fault *ConfigError // of the last write or Check
}

// State is what the status page says of InfluxDB.
type State struct {
	LastWrite     time.Time       `json:"last_write"`
	LastError     string          `json:"last_error"`
	LastErrorTime time.Time       `json:"last_error_time"`
	DeadLetters   int64           `json:"dead_letters"`
	Conflicts     []FieldConflict `json:"field_type_conflicts"`
	// ConfigError is what InfluxDB refused of the configuration at the
	// last write or check (a token, its rights, a bucket), with the
	// setting to fix; "" when it took it.
	ConfigError string `json:"config_error,omitempty"`
}

// FieldConflict is a field whose values InfluxDB refused because it holds
// the field with another type, with how to fix it.
type FieldConflict struct {
	Measurement string    `json:"measurement"`
	Field       string    `json:"field"`
	Sent        string    `json:"sent_type"` // what the rules write
	Held        string    `json:"held_type"` // what InfluxDB holds
	Values      int64     `json:"values"`    // refused so far
	Last        time.Time `json:"last"`
	Fix         string    `json:"fix"`
}

// maxConflictsListed bounds the conflicts the status page lists.
const maxConflictsListed = 100

// noteConflict counts n values refused for a conflict, for the metric and
// the status page.
func (s *Sink) noteConflict(cf conflict, n int) {
	s.m.conflicts.WithLabelValues(cf.measurement, cf.field).Add(float64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.state.Conflicts {
		c := &s.state.Conflicts[i]
		if c.Measurement == cf.measurement && c.Field == cf.field && c.Sent == cf.sent {
			c.Values += int64(n)
			c.Held, c.Last = cf.held, time.Now()
			return
		}
	}
	if len(s.state.Conflicts) < maxConflictsListed {
		s.state.Conflicts = append(s.state.Conflicts, FieldConflict{
			Measurement: cf.measurement, Field: cf.field, Sent: cf.sent, Held: cf.held, Values: int64(n), Last: time.Now(),
			Fix: fmt.Sprintf("InfluxDB holds %s as %s and the rules now write %s: give the rule a new field name (field = \"%s_%s\"), or set its type back to %s; then replay the dead letters (flespi-exporter import FILE)",
				cf.field, cf.held, cf.sent, cf.field, cf.sent, mapping.RuleType(cf.held)),
		})
	}
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
		timeout:   timeout,
		m:         newMetrics(reg),
		log:       log,
		org:       cfg.Org,
		bucket:    cfg.Bucket,
		url:       cfg.URL,
		deadPath:  cfg.DeadLetterFile,
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

// NewPart returns the Sink's part of a pipeline batch: the batch's lines.
func (s *Sink) NewPart() pipeline.Part { return &Lines{} }

// Name is the output's name in answers, logs and metrics.
func (s *Sink) Name() string { return "influxdb" }

// WritesPoints says that the Sink reads the InfluxDB points of a mapping.
func (s *Sink) WritesPoints() bool { return true }

// Store writes the lines of a batch (see Write).
func (s *Sink) Store(ctx context.Context, p pipeline.Part) (pipeline.Stored, error) {
	l := p.(*Lines)
	if l.Len() == 0 {
		return pipeline.Stored{}, nil
	}
	w, err := s.Write(ctx, l)
	return pipeline.Stored{Unit: "points", Stored: w.Points, Refused: w.DeadLettered}, err
}

// Written says what became of the points of Lines.
type Written struct {
	Points       int // stored
	DeadLettered int // values or points refused for good, newly kept in the dead-letter file (or logged)
}

// Write stores every line of l, in chunks of influxdb.batch_size, within
// twice influxdb.timeout in all (so that the caller can still answer). It
// returns an error when the lines must not be acknowledged: InfluxDB
// unreachable or failing, the deadline passed, or refused values that
// could not be kept in the dead-letter file.
//
// What InfluxDB refuses for good is dead-lettered and does not fail the
// write, so that a stream does not stall on it. A field type conflict
// costs one more request per chunk and field, not a bisection: InfluxDB
// names the field and the types, the field's values of the sent type are
// taken out of the chunk's points (the rest of each point is stored) and
// the chunk is sent again; writes are idempotent, so the points InfluxDB
// had kept from the refused request are only written again. Other
// refusals are bisected down to the refused points.
func (s *Sink) Write(ctx context.Context, l *Lines) (Written, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.timeout)
	defer cancel()
	var res Written
	var rejected []rejection
	for lo := 0; lo < l.Len(); lo += s.batchSize {
		c := newChunk(l, lo, min(lo+s.batchSize, l.Len()))
		if err := s.writeChunk(ctx, c, &res, &rejected); err != nil {
			return res, err
		}
	}
	if len(rejected) > 0 {
		n, err := s.deadLetter(l, rejected)
		if err != nil {
			return res, err
		}
		res.DeadLettered = n
	}
	return res, nil
}

// rejection is a value or a point InfluxDB refused for good.
type rejection struct {
	line  int    // index in Lines
	field string // the refused field, "key=value"; "" for the whole point
	err   error
}

// maxConflicts bounds the fields of one chunk taken out for type
// conflicts before the chunk is bisected instead.
const maxConflicts = 32

// writeChunk stores the lines of c, taking out what InfluxDB refuses.
func (s *Sink) writeChunk(ctx context.Context, c *chunk, res *Written, rejected *[]rejection) error {
	for round := 0; len(c.lines) > 0; round++ {
		err := s.send(ctx, c.text())
		switch {
		case err == nil:
			res.Points += len(c.lines)
			s.m.pointsWritten.Add(float64(len(c.lines)))
			return nil
		case !permanent(err):
			return fmt.Errorf("InfluxDB write failed: %w", err)
		case ctx.Err() != nil:
			return fmt.Errorf("InfluxDB write did not finish within twice influxdb.timeout: %w", err)
		}
		if cf, dropped, ok := parseConflict(err.Error()); ok && round < maxConflicts && !tooLarge(err) {
			if done, err := s.dropConflict(ctx, c, cf, dropped, err, rejected); err != nil {
				return err
			} else if done {
				continue
			}
		}
		if len(c.lines) == 1 {
			if tooLarge(err) {
				return fmt.Errorf("InfluxDB refuses a single point as too large: %w", err)
			}
			*rejected = append(*rejected, rejection{line: c.idx[0], err: err})
			return nil
		}
		a, b := c.halves()
		if err := s.writeChunk(ctx, a, res, rejected); err != nil {
			return err
		}
		return s.writeChunk(ctx, b, res, rejected)
	}
	return nil
}

// send makes one write request, and one more after a short pause when the
// first fails for a reason that may pass (network, 5xx, 429): more would
// keep flespi waiting, and flespi resends anyway.
func (s *Sink) send(ctx context.Context, lines []byte) error {
	return sendPolicy.Do(ctx, func() error {
		start := time.Now()
		// The client takes strings; the chunk is not modified while it
		// reads it, so it gets the bytes as they are, without a copy.
		err := s.api.WriteRecord(ctx, bytesview.String(lines))
		s.m.writeDuration.Observe(time.Since(start).Seconds())
		err = s.configError(err)
		s.note(err)
		switch {
		case err == nil:
		case permanent(err):
			s.m.writeErrors.WithLabelValues(errRejected).Inc()
		default:
			s.m.writeErrors.WithLabelValues(errTransient).Inc()
		}
		return err
	}, func(err error) bool { return !permanent(err) }, nil)
}

// note keeps the outcome of a write for the status page.
func (s *Sink) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
	if err == nil {
		s.state.LastWrite = time.Now()
		return
	}
	s.state.LastError, s.state.LastErrorTime = err.Error(), time.Now()
	var ce *ConfigError
	if errors.As(err, &ce) {
		s.fault = ce
	}
}

// ResetConflicts forgets the field type conflicts listed so far (after a
// reload: one the new rules still have comes back with its next refused
// value, a fixed one leaves the status page).
func (s *Sink) ResetConflicts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Conflicts = nil
}

// Status returns what the status page shows of InfluxDB.
func (s *Sink) Status() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Conflicts = append([]FieldConflict(nil), s.state.Conflicts...)
	if s.fault != nil {
		st.ConfigError = s.fault.Fix
	}
	return st
}

// dropConflict takes the values of a field type conflict out of c, and
// reports whether it found any. When InfluxDB dropped as many points as
// write the field with the refused type, they all conflict; when fewer
// (the others went to a shard where the field has that type), the
// conflicting ones are found by sending halves of them: the others are
// stored meanwhile, and only what InfluxDB refuses is dead-lettered.
func (s *Sink) dropConflict(ctx context.Context, c *chunk, cf conflict, dropped int, err error, rejected *[]rejection) (bool, error) {
	pos, fields, at := c.candidates(cf)
	if len(pos) == 0 {
		return false, nil
	}
	if dropped >= 0 && dropped < len(pos) {
		var ferr error
		if pos, fields, at, ferr = s.conflicting(ctx, c, cf, pos, fields, at); ferr != nil {
			return false, ferr
		}
		if len(pos) == 0 {
			return true, nil // all stored now: the resend only writes them again
		}
	}
	c.dropField(pos, fields, at, err, rejected)
	s.noteConflict(cf, len(pos))
	return true, nil
}

// conflicting narrows the candidates of a conflict down to those InfluxDB
// refuses, sending halves of them as they are.
func (s *Sink) conflicting(ctx context.Context, c *chunk, cf conflict, pos []int, fields [][]lineField, at []int) ([]int, [][]lineField, []int, error) {
	err := s.send(ctx, c.subset(pos).text())
	switch {
	case err == nil: // stored; the resend of the chunk writes them again, and counts them
		return nil, nil, nil, nil
	case !permanent(err):
		return nil, nil, nil, fmt.Errorf("InfluxDB write failed: %w", err)
	case ctx.Err() != nil:
		return nil, nil, nil, fmt.Errorf("InfluxDB write did not finish within twice influxdb.timeout: %w", err)
	}
	if len(pos) == 1 {
		return pos, fields, at, nil
	}
	mid := len(pos) / 2
	p1, f1, a1, err := s.conflicting(ctx, c, cf, pos[:mid], fields[:mid], at[:mid])
	if err != nil {
		return nil, nil, nil, err
	}
	p2, f2, a2, err := s.conflicting(ctx, c, cf, pos[mid:], fields[mid:], at[mid:])
	if err != nil {
		return nil, nil, nil, err
	}
	return append(p1, p2...), append(f1, f2...), append(a1, a2...), nil
}

// tooLarge reports whether InfluxDB refused a request for its size (413):
// its halves may pass.
func tooLarge(err error) bool {
	var he *ihttp.Error
	return errors.As(err, &he) && he.StatusCode == http.StatusRequestEntityTooLarge
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

// logRefused says what InfluxDB refused, one line per write however many
// values (a line per value made 35 MB of log per 100,000 messages when
// InfluxDB refused every new device), with the fix for a refusal that is a
// setting of InfluxDB's.
func (s *Sink) logRefused(l *Lines, rejected []rejection) {
	first := rejected[0]
	for _, r := range rejected {
		if strings.Contains(r.err.Error(), "max-values-per-tag limit exceeded") {
			s.log.Error("InfluxDB 1.x refuses new tag values past its max-values-per-tag (100,000 by default): the devices past it are dead-lettered. "+
				"Set max-values-per-tag = 0 in the [data] section of influxdb.conf (INFLUXDB_DATA_MAX_VALUES_PER_TAG=0), restart InfluxDB, then replay the dead letters",
				"refused", len(rejected), "err", r.err)
			return
		}
	}
	s.log.Warn("InfluxDB refused values for good; kept in the dead-letter file", "refused", len(rejected),
		"first_err", first.err, "first_field", first.field, "first_line", string(l.Span(first.line, first.line+1)))
}

// deadLetter keeps the refused values and points with the messages they
// came from, and returns how many were new: a batch sent again (our 200
// was lost) adds none twice.
func (s *Sink) deadLetter(l *Lines, rejected []rejection) (int, error) {
	s.logRefused(l, rejected)
	n := len(rejected)
	if s.dead != nil {
		var err error
		if n, err = s.dead.write(l, rejected, time.Now()); err != nil {
			return 0, fmt.Errorf("keeping %d refused values in the dead-letter file: %w", len(rejected), err)
		}
	}
	s.m.deadLetters.Add(float64(n))
	s.mu.Lock()
	s.state.DeadLetters += int64(n)
	s.mu.Unlock()
	return n, nil
}

// Close closes the client and the dead-letter file. Writes in flight must
// have finished.
func (s *Sink) Close() {
	s.client.Close()
	if s.dead != nil {
		_ = s.dead.close()
	}
}
