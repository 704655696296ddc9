package pipeline

import (
	"errors"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Batch is what one body of messages maps to, ready for the outputs: line
// protocol for InfluxDB, gauge samples, and what the status page keeps.
// Its memory is reused through a pool; the message texts point into the
// body, so a Batch must not outlive it.
type Batch struct {
	lines influx.Lines

	samples []mapping.Sample // gauge values, applied once the batch is stored
	groups  []gauges.Group   // the samples of each message, with its device labels
	labels  []mapping.Label  // backing store of the groups' and seen's labels
	seen    []devices.Seen   // the device of each message, for the registry

	mapping  *mapping.Mapping // the rules the batch is mapped with
	received time.Time
	source   string // "http", "mqtt": where the batch came from
	wants    wants

	// For the status page.
	status         []MessageStatus
	unmappedValues []UnmappedValue
	texts          []byte // copies of names and example values, for status and unmappedValues

	counts Counts

	dec *message.Decoder
	res mapping.Result
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

var batchPool = sync.Pool{New: func() any {
	return &Batch{dec: message.NewDecoder(), counts: Counts{ValuesSkipped: map[string]int{}}}
}}

// wants says what a batch makes: only what some output takes.
type wants struct {
	points, samples, devices, status bool
}

// newBatch returns an empty batch that maps with m.
func newBatch(m *mapping.Mapping, received time.Time, w wants) *Batch {
	b := batchPool.Get().(*Batch)
	b.mapping, b.received, b.wants = m, received, w
	b.res.NoPoints = !w.points
	return b
}

// Release resets the batch and returns it to the pool, unless a huge body
// made it too big to keep around.
func (b *Batch) Release() {
	b.Reset()
	b.mapping, b.source = nil, ""
	if b.poolable() {
		batchPool.Put(b)
	}
}

// poolable reports whether the batch is small enough to keep for reuse.
func (b *Batch) poolable() bool { return b.size() <= maxPooledBytes }

// size is the memory the batch holds, roughly, in bytes.
func (b *Batch) size() int {
	return b.lines.Cap() + 24*cap(b.samples) + 40*cap(b.groups) + 32*cap(b.labels) + 56*cap(b.seen) +
		80*cap(b.status) + 48*cap(b.unmappedValues) + cap(b.texts)
}

// Reset empties the batch, keeping its memory, decoder and rules.
func (b *Batch) Reset() {
	b.lines.Reset()
	clear(b.samples) // drop the references to label strings
	clear(b.groups)
	clear(b.seen)
	b.samples, b.groups, b.labels, b.seen = b.samples[:0], b.groups[:0], b.labels[:0], b.seen[:0]
	clear(b.status)
	clear(b.unmappedValues)
	b.status, b.unmappedValues, b.texts = b.status[:0], b.unmappedValues[:0], b.texts[:0]
	clear(b.res.Hits)
	vs := b.counts.ValuesSkipped
	clear(vs)
	b.counts = Counts{ValuesSkipped: vs, SkipExamples: b.counts.SkipExamples[:0]}
}

// Decode decodes body and calls fn with each message; see message.Decoder.
func (b *Batch) Decode(body []byte, fn func(*message.Message) error) error {
	return b.dec.Decode(body, fn)
}

// fill decodes body and maps every message. A message without ident or
// time is counted and skipped; an invalid body is an error and leaves the
// batch unusable.
func (b *Batch) fill(body []byte) error {
	return b.dec.Decode(body, b.Add)
}

// Add maps one message into the batch. One without ident or time is only
// counted.
func (b *Batch) Add(msg *message.Message) error {
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
	if b.wants.points {
		b.addLines(msg)
	}
	if b.wants.samples || b.wants.devices {
		b.addDevice()
	}
	if b.wants.status {
		b.addStatus(msg)
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

// addLines writes the points of b.res as line protocol.
func (b *Batch) addLines(msg *message.Message) {
	r := &b.res
	if len(r.Points) == 0 {
		return
	}
	l := &b.lines
	l.AddMessage(msg.Raw)
	for i := range r.Points {
		l.Text = r.Points[i].AppendLineProtocol(l.Text)
		l.EndLine()
	}
}

// addDevice keeps the device labels of b.res (ident and message tags) and
// what the outputs want with them: the gauge samples, and the device's
// times for the registry.
func (b *Batch) addDevice() {
	r := &b.res
	start := len(b.labels)
	for _, t := range r.Tags {
		b.labels = append(b.labels, mapping.Label{Name: t.Key, Value: t.Value})
	}
	labels := b.labels[start:len(b.labels):len(b.labels)]
	if b.wants.devices {
		at := r.Time.UnixNano()
		if r.Future {
			at = 0 // a device time far ahead must not become the device's newest
		}
		b.seen = append(b.seen, devices.Seen{Ident: r.Ident, Labels: labels, At: at, Received: b.received.UnixNano()})
	}
	if b.wants.samples && len(r.Samples) > 0 {
		first := len(b.samples)
		b.samples = append(b.samples, r.Samples...)
		b.groups = append(b.groups, gauges.Group{Labels: labels, Start: first, End: len(b.samples)})
	}
}

// Points is the number of lines of line protocol.
func (b *Batch) Points() int { return b.lines.Len() }

// Counts returns what the batch skipped so far.
func (b *Batch) Counts() *Counts { return &b.counts }

// Mapping returns the rules the batch is mapped with.
func (b *Batch) Mapping() *mapping.Mapping { return b.mapping }

// SetSource names where the batch came from, for the status page.
func (b *Batch) SetSource(s string) { b.source = s }

// Source is where the batch came from ("" when unnamed).
func (b *Batch) Source() string { return b.source }

// Received is when the batch arrived.
func (b *Batch) Received() time.Time { return b.received }

// Hits counts the parameters each rule matched, by rule index.
func (b *Batch) Hits() []int { return b.res.Hits }
