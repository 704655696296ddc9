// Package pipeline is the one path every source of flespi messages takes
// (the HTTP stream, the MQTT source, import): a body or messages in,
// decoded and mapped with the rules in use, handed to the outputs, and one
// Result out that says what was stored and skipped, or an error that says
// why nothing may be acknowledged.
//
// The pipeline knows its outputs only by the interfaces of this file. An
// output keeps its own Part of each batch, filled message by message as
// the batch is mapped. Stores (InfluxDB) must hold a batch before it is
// acknowledged; Followers (the device gauges, the device registry, the
// status page) are told of it once every store has it, so that they follow
// what is stored. A new output is a package with these methods and one
// line in the wiring (exporter.New).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Output is where mapped batches go: a Store or a Follower, and any of
// the lifecycle's interfaces (lifecycle.go).
type Output interface {
	// Name names the output in answers, logs, metrics and the status
	// page: "influxdb", "remote_write".
	Name() string
	// NewPart returns an empty part of a batch for this output. Parts
	// are reused with their batch.
	NewPart() Part
}

// Part is one output's share of a batch.
type Part interface {
	// Add takes one mapped message, received at received. msg and r are
	// reused for the next message: Add copies what it keeps, or keeps
	// slices of msg's body, which lives as long as the batch.
	Add(msg *message.Message, r *mapping.Result, received time.Time)
	// Reset empties the part, keeping its memory.
	Reset()
	// Size is the memory the part holds, roughly, in bytes: a batch
	// grown by a huge body is not kept for reuse.
	Size() int
}

// Store is an output that must hold a batch before the batch is
// acknowledged.
type Store interface {
	Output
	// Store writes what p holds. An error means nothing of the batch may
	// be acknowledged; the batch may be stored again (writes are
	// idempotent).
	Store(ctx context.Context, p Part) (Stored, error)
}

// Stored is what a Store did with a batch, in its own unit (points,
// samples): what it holds, and what it refused for good and kept in its
// dead-letter file.
type Stored struct {
	Unit            string
	Stored, Refused int
	// Quiet leaves the output out of the answer when it stored and
	// refused nothing (the fleet events: most batches close none).
	Quiet bool `json:"quiet,omitempty"`
}

// Follower is an output that follows what is stored: it is told of a
// batch once every Store holds it, and never of a batch that failed.
type Follower interface {
	Output
	// Follow takes p, a part of b. Neither may be kept after it returns.
	Follow(p Part, b *Batch)
}

// PointWriter is an output that reads the InfluxDB points of a mapped
// message (mapping.Result.Points); without one, the mapping does not make
// them.
type PointWriter interface {
	WritesPoints() bool
}

// Pipeline maps batches with the rules in use and stores them in the
// outputs. It is safe for concurrent use.
type Pipeline struct {
	mapping   atomic.Pointer[mapping.Mapping] // swapped whole by a reload
	outputs   []Output                        // the stores first, then the followers
	stores    int                             // outputs[:stores] are Stores
	points    bool                            // an output reads points
	batchPool sync.Pool                       // *Batch, with a part per output
	m         *metrics
	log       *slog.Logger
}

// New returns a Pipeline that maps with m into outputs, each a Store or
// a Follower (an output that is neither is an error: it would never be
// told of a batch). Stores are written in the order given, then followers
// are told, in the order given. Its metrics are registered with reg unless
// reg is nil.
func New(m *mapping.Mapping, outputs []Output, reg prometheus.Registerer, log *slog.Logger) (*Pipeline, error) {
	p := &Pipeline{m: newMetrics(reg), log: log}
	for _, o := range outputs {
		_, store := o.(Store)
		_, follower := o.(Follower)
		if !store && !follower {
			return nil, fmt.Errorf("output %s (%T) is neither a pipeline.Store nor a pipeline.Follower", o.Name(), o)
		}
	}
	for _, o := range outputs {
		if _, ok := o.(Store); ok {
			p.outputs = append(p.outputs, o)
		}
		if pw, ok := o.(PointWriter); ok && pw.WritesPoints() {
			p.points = true
		}
	}
	p.stores = len(p.outputs)
	for _, o := range outputs {
		if _, ok := o.(Follower); ok {
			p.outputs = append(p.outputs, o)
		}
	}
	p.batchPool.New = func() any { return p.newBatch() }
	p.mapping.Store(m)
	return p, nil
}

// Outputs are the pipeline's outputs: the stores, then the followers.
func (p *Pipeline) Outputs() []Output { return p.outputs }

// Mapping returns the rules in use.
func (p *Pipeline) Mapping() *mapping.Mapping { return p.mapping.Load() }

// SetMapping puts new rules in use; batches begun before keep theirs.
func (p *Pipeline) SetMapping(m *mapping.Mapping) { p.mapping.Store(m) }

// Result says what became of a stored batch.
type Result struct {
	Messages        int            // in the batch
	SkippedMessages int            // without ident or time
	SkippedValues   int            // values a rule matched but could not use
	Unmapped        int            // values of parameters no rule matches
	Outputs         []OutputResult // what each store did
	NoStore         bool           // there is no store: gauges only
}

// OutputResult is what one store did with a batch.
type OutputResult struct {
	Output string `json:"output"`
	Stored
}

// Of is what the store named did with the batch (zero without it).
func (r Result) Of(output string) Stored {
	for _, o := range r.Outputs {
		if o.Output == output {
			return o.Stored
		}
	}
	return Stored{}
}

// InvalidError is a body that is not messages: nothing of it was stored,
// and sending it again cannot help.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Setting reports whether err is an output's refusal that only a change of
// the configuration cures (a refused token, a wrong URL or database):
// waiting does not help. fix says what to change. An output's error says
// so with a method Setting() string.
func Setting(err error) (fix string, ok bool) {
	var s interface{ Setting() string }
	if errors.As(err, &s) {
		return s.Setting(), true
	}
	return "", false
}

// NotStoredError is a batch that an output could not store now (InfluxDB
// down): nothing of it may be acknowledged, and it may be sent again.
type NotStoredError struct{ Err error }

func (e *NotStoredError) Error() string { return e.Err.Error() }
func (e *NotStoredError) Unwrap() error { return e.Err }

// Process decodes body, received from source ("http"), maps it with the
// rules in use and stores it: Begin, Add, Store and Release in one. The
// error is an *InvalidError or a *NotStoredError.
func (p *Pipeline) Process(ctx context.Context, source Source, body []byte, received time.Time) (Result, error) {
	b := p.Begin(source, received)
	defer b.Release()
	if err := b.Add(body); err != nil {
		return Result{}, err
	}
	return b.Store(ctx)
}

// count adds a mapped batch to the metrics and logs what it skipped; a
// batch is counted once, however often it is stored.
func (p *Pipeline) count(c *Counts) {
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
// a store it says so, rather than "0 points", which reads like a failure.
func (r Result) String() string {
	if r.NoStore {
		return fmt.Sprintf("stored: %d messages as gauges (no store), %d skipped messages", r.Messages, r.SkippedMessages)
	}
	out := fmt.Sprintf("stored: %d messages, %d skipped messages", r.Messages, r.SkippedMessages)
	for _, o := range r.Outputs {
		if o.Quiet && o.Stored.Stored == 0 && o.Refused == 0 {
			continue
		}
		out += fmt.Sprintf("; %s: %d %s, %d dead-lettered", o.Output, o.Stored.Stored, o.Unit, o.Refused)
	}
	return out
}

// Must is New's pipeline, panicking on its error: for outputs fixed in
// the code (tests, benchmarks), as template.Must is for templates.
func Must(p *Pipeline, err error) *Pipeline {
	if err != nil {
		panic(err)
	}
	return p
}
