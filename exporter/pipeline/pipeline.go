// Package pipeline is the one path every source of flespi messages takes:
// a body (or messages) in, decoded and mapped with the rules in use, handed
// to the outputs (InfluxDB, the device gauges, the status page), and one
// Result out that says what was stored and skipped, or an error that says
// why nothing may be acknowledged.
//
// A source (the HTTP stream receiver, the import command) only reads its
// input and turns the Result or error into its own answer.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/exporter/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Outputs are where stored batches go; a nil output is not there.
type Outputs struct {
	Influx  *influx.Sink
	Gauges  *gauges.Store
	Devices *devices.Registry
	Status  Recorder
}

// Recorder is told of every stored batch (the status page). It must not
// keep the batch or its byte slices after Record returns.
type Recorder interface {
	Record(b *Batch)
}

// Pipeline maps batches with the rules in use and stores them in the
// outputs. It is safe for concurrent use.
type Pipeline struct {
	mapping atomic.Pointer[mapping.Mapping] // swapped whole by a reload
	out     Outputs
	m       *metrics
	log     *slog.Logger
}

// New returns a Pipeline that maps with m into out. Its metrics are
// registered with reg unless reg is nil.
func New(m *mapping.Mapping, out Outputs, reg prometheus.Registerer, log *slog.Logger) *Pipeline {
	p := &Pipeline{out: out, m: newMetrics(reg), log: log}
	p.mapping.Store(m)
	return p
}

// Mapping returns the rules in use.
func (p *Pipeline) Mapping() *mapping.Mapping { return p.mapping.Load() }

// SetMapping puts new rules in use; batches begun before keep theirs.
func (p *Pipeline) SetMapping(m *mapping.Mapping) { p.mapping.Store(m) }

// Result says what became of a stored batch.
type Result struct {
	Messages        int // in the batch
	SkippedMessages int // without ident or time
	SkippedValues   int // values a rule matched but could not use
	Points          int // stored in InfluxDB
	DeadLettered    int // refused for good by InfluxDB, kept in the dead-letter file
	NoInflux        bool
}

// InvalidError is a body that is not messages: nothing of it was stored,
// and sending it again cannot help.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// NotStoredError is a batch that an output could not store now (InfluxDB
// down): nothing of it may be acknowledged, and it may be sent again.
type NotStoredError struct{ Err error }

func (e *NotStoredError) Error() string { return e.Err.Error() }
func (e *NotStoredError) Unwrap() error { return e.Err }

// Process decodes body, received from source ("http"), maps it with the
// rules in use and stores it. The error is an *InvalidError or a
// *NotStoredError.
func (p *Pipeline) Process(ctx context.Context, source string, body []byte, received time.Time) (Result, error) {
	b := p.Begin(received)
	defer b.Release()
	b.SetSource(source)
	// The batch keeps the rules it started with, whatever a reload does meanwhile.
	if err := b.fill(body); err != nil {
		return Result{}, &InvalidError{err}
	}
	p.Count(b)
	return p.Store(ctx, b)
}

// Begin returns an empty batch for messages received at received, mapped
// with the rules in use now. Fill it with Batch.Add (or Decode), store it
// with Store, and Release it.
func (p *Pipeline) Begin(received time.Time) *Batch {
	return newBatch(p.mapping.Load(), received, wants{
		points: p.out.Influx != nil, samples: p.out.Gauges != nil, devices: p.out.Devices != nil, status: p.out.Status != nil,
	})
}

// Store hands a mapped batch to the outputs: InfluxDB first, and only once
// it has stored every point, the gauges, the device registry and the status
// page, so that they
// follow what is stored (a batch that fails comes again). A failed Store
// may be retried with the same batch: points are idempotent.
func (p *Pipeline) Store(ctx context.Context, b *Batch) (Result, error) {
	c := b.Counts()
	res := Result{Messages: c.Messages, SkippedMessages: c.NoIdent + c.NoTime, SkippedValues: c.skipped(), NoInflux: p.out.Influx == nil}
	if p.out.Influx != nil && b.Points() > 0 {
		w, err := p.out.Influx.Write(ctx, &b.lines)
		if err != nil {
			return res, &NotStoredError{err}
		}
		res.Points, res.DeadLettered = w.Points, w.DeadLettered
	}
	if p.out.Gauges != nil {
		p.out.Gauges.Update(b.groups, b.samples)
	}
	if p.out.Devices != nil {
		p.out.Devices.Update(b.seen)
	}
	if p.out.Status != nil {
		p.out.Status.Record(b)
	}
	return res, nil
}

// Count adds a mapped batch to the metrics and logs what it skipped; a
// source calls it once per batch, however often it tries to store it.
func (p *Pipeline) Count(b *Batch) {
	c := b.Counts()
	p.m.messages.Add(float64(c.Messages))
	p.m.messagesSkipped.WithLabelValues(reasonNoIdent).Add(float64(c.NoIdent))
	p.m.messagesSkipped.WithLabelValues(reasonNoTime).Add(float64(c.NoTime))
	p.m.unmapped.Add(float64(c.Unmapped))
	for reason, n := range c.ValuesSkipped {
		p.m.valuesSkipped.WithLabelValues(reason).Add(float64(n))
	}
	if c.NoIdent+c.NoTime > 0 {
		p.log.Warn("skipped messages that cannot be stored", "no_ident", c.NoIdent, "no_time", c.NoTime, "messages", c.Messages)
	}
	if len(c.SkipExamples) > 0 {
		p.log.Info("skipped values a rule could not use", "count", c.skipped(), "examples", c.SkipExamples)
	}
}

// String is the text of the answer that acknowledges the batch. Without
// an InfluxDB output it says so, rather than "0 points", which reads like
// a failure.
func (r Result) String() string {
	if r.NoInflux {
		return fmt.Sprintf("stored: %d messages as gauges (no InfluxDB output), %d skipped messages", r.Messages, r.SkippedMessages)
	}
	return fmt.Sprintf("stored: %d messages, %d points, %d skipped messages, %d dead-lettered points",
		r.Messages, r.Points, r.SkippedMessages, r.DeadLettered)
}
