package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Batch is what one body of messages maps to, an output's Part each. A
// source uses it in one order: Begin, Add (or Decode and AddMessage),
// Store (again while it fails, if the source can wait), Release; Reset
// between chunks of one long input (import). Its memory is reused through
// a pool; the parts may point into the body, so a Batch must not outlive
// it.
type Batch struct {
	pipe     *Pipeline
	parts    []Part           // one per output, in p.outputs' order
	mapping  *mapping.Mapping // the rules the batch is mapped with
	received time.Time
	source   Source // where the batch came from
	counts   Counts
	counted  bool // the metrics have the counts

	dec *message.Decoder
	res mapping.Result
}

// SourcePart is a part that is told where its batch comes from, when the
// batch begins (the fleet events leave imports of history alone).
type SourcePart interface {
	Begin(source Source)
}

// Counts are what a batch skipped, for the metrics and the answer.
type Counts struct {
	Messages      int
	NoIdent       int
	NoTime        int
	Unmapped      int
	ValuesSkipped map[string]int // by reason
	SkipExamples  []string       // "ident param: reason", the first few, for the log
}

// skipped is the number of skipped values.
func (c *Counts) skipped() int {
	n := 0
	for _, k := range c.ValuesSkipped {
		n += k
	}
	return n
}

// maxSkipExamples bounds the skipped values a batch names in the log.
const maxSkipExamples = 3

// maxPooledBytes bounds the memory of a batch kept for reuse: one huge
// batch must not keep its buffers for ever.
const maxPooledBytes = 4 << 20

func (p *Pipeline) newBatch() *Batch {
	b := &Batch{pipe: p, dec: message.NewDecoder(), counts: Counts{ValuesSkipped: map[string]int{}}}
	for _, o := range p.outputs {
		b.parts = append(b.parts, o.NewPart())
	}
	return b
}

// Begin returns an empty batch of messages from source received at
// received, mapped with the rules in use now.
func (p *Pipeline) Begin(source Source, received time.Time) *Batch {
	b := p.batchPool.Get().(*Batch)
	b.mapping, b.source, b.received = p.mapping.Load(), source, received
	b.res.NoPoints = !p.points
	for _, pt := range b.parts {
		if s, ok := pt.(SourcePart); ok {
			s.Begin(source)
		}
	}
	return b
}

// Release resets the batch and returns it to the pool, unless a huge body
// made it too big to keep around.
func (b *Batch) Release() {
	b.Reset()
	b.mapping, b.source = nil, ""
	if b.poolable() {
		b.pipe.batchPool.Put(b)
	}
}

// poolable reports whether the batch is small enough to keep for reuse.
func (b *Batch) poolable() bool { return b.size() <= maxPooledBytes }

// size is the memory the batch holds, roughly, in bytes.
func (b *Batch) size() int {
	n := 0
	for _, p := range b.parts {
		n += p.Size()
	}
	return n
}

// Reset empties the batch, keeping its memory, decoder and rules: the
// next chunk of a long input (import) starts afresh, and is counted anew.
func (b *Batch) Reset() {
	for _, p := range b.parts {
		p.Reset()
	}
	clear(b.res.Hits)
	vs := b.counts.ValuesSkipped
	clear(vs)
	b.counts = Counts{ValuesSkipped: vs, SkipExamples: b.counts.SkipExamples[:0]}
	b.counted = false
}

// Add decodes body and maps every message into the batch. A message
// without ident or time is counted and skipped; a body that is not
// messages is an *InvalidError and leaves the batch to be Reset or
// released.
func (b *Batch) Add(body []byte) error {
	if err := b.dec.Decode(body, b.AddMessage); err != nil {
		return &InvalidError{err}
	}
	return nil
}

// Decode decodes body and calls fn with each message, for a source that
// looks at the messages before it adds them (import resumes, and flushes
// in chunks); see message.Decoder.
func (b *Batch) Decode(body []byte, fn func(*message.Message) error) error {
	return b.dec.Decode(body, fn)
}

// AddMessage maps one message into the batch. One without ident or time
// is only counted.
func (b *Batch) AddMessage(msg *message.Message) error {
	b.counts.Messages++
	err := b.mapping.Apply(msg, b.received, &b.res)
	switch {
	case errors.Is(err, mapping.ErrNoIdent):
		b.counts.NoIdent++
		return nil
	case errors.Is(err, mapping.ErrNoTime):
		b.counts.NoTime++
		return nil
	case err != nil:
		return err
	}
	b.addCounts()
	for _, p := range b.parts {
		p.Add(msg, &b.res, b.received)
	}
	return nil
}

// addCounts counts what b.res skipped and left unmapped.
func (b *Batch) addCounts() {
	r := &b.res
	b.counts.Unmapped += len(r.Unmapped)
	for _, s := range r.Skipped {
		b.counts.ValuesSkipped[s.Reason]++
		if len(b.counts.SkipExamples) < maxSkipExamples {
			b.counts.SkipExamples = append(b.counts.SkipExamples, r.Ident+" "+s.Param+": "+s.Reason)
		}
	}
}

// Store hands the batch to the outputs: every store first, and only once
// they all hold it, the followers, so that these follow what is stored.
// The batch is counted in the metrics at its first Store. A failed Store
// (a *NotStoredError) may be tried again with the same batch.
func (b *Batch) Store(ctx context.Context) (Result, error) {
	p := b.pipe
	if !b.counted {
		p.count(&b.counts)
		b.counted = true
	}
	c := &b.counts
	res := Result{Messages: c.Messages, SkippedMessages: c.NoIdent + c.NoTime, SkippedValues: c.skipped(), Unmapped: c.Unmapped, NoStore: p.stores == 0}
	for i := range p.stores {
		s, err := p.outputs[i].(Store).Store(ctx, b.parts[i])
		if err != nil {
			return res, &NotStoredError{err}
		}
		name := p.outputs[i].Name()
		res.Outputs = append(res.Outputs, OutputResult{Output: name, Stored: s})
		p.m.stored.WithLabelValues(name).Add(float64(s.Stored))
		p.m.refused.WithLabelValues(name).Add(float64(s.Refused))
	}
	for i := p.stores; i < len(p.outputs); i++ {
		p.outputs[i].(Follower).Follow(b.parts[i], b)
	}
	return res, nil
}

// Counts returns what the batch skipped so far.
func (b *Batch) Counts() *Counts { return &b.counts }

// Mapping returns the rules the batch is mapped with.
func (b *Batch) Mapping() *mapping.Mapping { return b.mapping }

// Source is where the batch came from.
func (b *Batch) Source() Source { return b.source }

// Received is when the batch arrived.
func (b *Batch) Received() time.Time { return b.received }

// Hits counts the parameters each rule matched, by rule index.
func (b *Batch) Hits() []int { return b.res.Hits }
