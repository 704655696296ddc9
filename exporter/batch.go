package exporter

import (
	"errors"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// batch is what one stream request maps to, ready to be stored. Its memory
// is reused through batchPool; the message texts point into the request
// body, so a batch must not outlive the request.
type batch struct {
	lines  []byte   // line protocol, one point per line
	ends   []int    // end offset in lines of each line
	origin []int    // index in msgs of the message each line came from
	msgs   [][]byte // JSON text of the messages that made lines

	samples []mapping.Sample // gauge values, applied once the batch is stored
	groups  []deviceSamples  // the samples of each message, with its device labels
	labels  []mapping.Label  // backing store of the groups' labels
	devices deviceGauges

	// For the status page.
	mapping        *mapping.Mapping // the rules the batch was mapped with
	received       time.Time
	status         []messageStatus
	unmappedValues []unmappedValue
	texts          []byte // copies of names and example values, for status and unmappedValues

	messages      int
	noIdent       int
	noTime        int
	unmapped      int
	valuesSkipped map[string]int // by reason
	skipExamples  []string       // "ident param: reason", the first few, for the log

	dec *message.Decoder
	res mapping.Result
}

// maxSkipExamples bounds the skipped values a batch names in the log.
const maxSkipExamples = 3

var batchPool = sync.Pool{New: func() any {
	return &batch{dec: message.NewDecoder(), valuesSkipped: map[string]int{}}
}}

func getBatch() *batch { return batchPool.Get().(*batch) }

// release resets the batch and returns it to the pool.
func (b *batch) release() {
	b.reset()
	b.mapping = nil
	batchPool.Put(b)
}

// reset empties the batch, keeping its memory (and decoder).
func (b *batch) reset() {
	b.lines, b.ends, b.origin = b.lines[:0], b.ends[:0], b.origin[:0]
	clear(b.samples) // drop the references to label strings
	clear(b.groups)
	b.samples, b.groups, b.labels = b.samples[:0], b.groups[:0], b.labels[:0]
	clear(b.status)
	clear(b.unmappedValues)
	b.status, b.unmappedValues, b.texts = b.status[:0], b.unmappedValues[:0], b.texts[:0]
	clear(b.res.Hits)
	clear(b.msgs) // drop the references to the request body
	b.msgs = b.msgs[:0]
	b.messages, b.noIdent, b.noTime, b.unmapped = 0, 0, 0, 0
	clear(b.valuesSkipped)
	b.skipExamples = b.skipExamples[:0]
}

// deviceGauges are the gauges every message updates, for one Mapping.
type deviceGauges struct {
	last, received *mapping.Gauge
	mapping        *mapping.Mapping
}

func newDeviceGauges(m *mapping.Mapping) deviceGauges {
	cfg := m.Config()
	last, received := deviceGaugeNames(cfg.Namespace)
	ttl := cfg.GaugeTTL.Duration
	if cfg.GaugeTTL.Never {
		ttl = 0
	}
	return deviceGauges{
		last:     &mapping.Gauge{Name: last, Help: helpLastMessage, TTL: ttl},
		received: &mapping.Gauge{Name: received, Help: helpLastReceived, TTL: ttl},
		mapping:  m,
	}
}

// fill decodes body and maps every message with m, into line protocol when
// points is set. A message without ident or time is counted and skipped; an
// invalid body is an error and leaves the batch unusable.
func (b *batch) fill(body []byte, m *mapping.Mapping, received time.Time, points bool) error {
	b.res.NoPoints = !points
	if b.devices.mapping != m {
		b.devices = newDeviceGauges(m)
	}
	b.mapping, b.received = m, received
	return b.dec.Decode(body, func(msg *message.Message) error {
		mapped, err := b.mapOne(msg, m, received)
		if mapped {
			b.addSamples(received)
			b.addStatus(msg)
		}
		return err
	})
}

// mapOne maps one message into the batch's line protocol. It reports
// whether the message made anything: one without ident or time is only
// counted.
func (b *batch) mapOne(msg *message.Message, m *mapping.Mapping, received time.Time) (bool, error) {
	b.messages++
	err := m.Apply(msg, received, &b.res)
	switch {
	case errors.Is(err, mapping.ErrNoIdent):
		b.noIdent++
		return false, nil
	case errors.Is(err, mapping.ErrNoTime):
		b.noTime++
		return false, nil
	case err != nil:
		return false, err
	}
	b.add(msg)
	return true, nil
}

// addSamples keeps the gauge samples of b.res, and the device gauges: the
// newest device time and the newest arrival of a message per device.
func (b *batch) addSamples(received time.Time) {
	r := &b.res
	start := len(b.labels)
	for _, t := range r.Tags {
		b.labels = append(b.labels, mapping.Label{Name: t.Key, Value: t.Value})
	}
	first := len(b.samples)
	d := &b.devices
	b.samples = append(b.samples,
		mapping.Sample{Gauge: d.last, Value: unixSeconds(r.Time), Time: r.Time.UnixNano()},
		mapping.Sample{Gauge: d.received, Value: unixSeconds(received), Time: received.UnixNano()},
	)
	b.samples = append(b.samples, r.Samples...)
	b.groups = append(b.groups, deviceSamples{
		labels: b.labels[start:len(b.labels):len(b.labels)],
		start:  first, end: len(b.samples),
	})
}

// addStatus keeps what the status page needs of b.res: the device, the
// unmapped parameters with an example value each, the rules that matched.
// Values are copied (short): the decoder reuses its buffers.
func (b *batch) addStatus(msg *message.Message) {
	r := &b.res
	start := len(b.unmappedValues)
	for _, i := range r.UnmappedAt {
		p := &msg.Params[i]
		b.unmappedValues = append(b.unmappedValues, unmappedValue{name: p.Name, kind: p.Kind, raw: b.keep(p.Raw, maxExampleLen)})
	}
	var name []byte
	if p := msg.Get("device.name"); p != nil && p.Kind == message.String {
		name = b.keep(p.Raw, 200)
	}
	b.status = append(b.status, messageStatus{
		ident: r.Ident, name: name, at: r.Time, mapped: r.Mapped,
		unmappedStart: start, end: len(b.unmappedValues),
	})
}

// keep copies up to n bytes of raw into the batch's text store.
func (b *batch) keep(raw []byte, n int) []byte {
	start := len(b.texts)
	b.texts = append(b.texts, raw[:min(len(raw), n)]...)
	return b.texts[start:len(b.texts):len(b.texts)]
}

const (
	helpLastMessage  = "Device time of the newest message of the device, in Unix seconds: time() minus it is how long the device has been silent."
	helpLastReceived = "When the exporter last received a message of the device, in Unix seconds (late buffered messages count too)."
)

// add keeps what b.res holds for msg.
func (b *batch) add(msg *message.Message) {
	r := &b.res
	b.unmapped += len(r.Unmapped)
	for _, s := range r.Skipped {
		b.valuesSkipped[s.Reason]++
		if len(b.skipExamples) < maxSkipExamples {
			b.skipExamples = append(b.skipExamples, r.Ident+" "+s.Param+": "+s.Reason)
		}
	}
	if len(r.Points) == 0 {
		return
	}
	b.msgs = append(b.msgs, msg.Raw)
	for i := range r.Points {
		b.lines = r.Points[i].AppendLineProtocol(b.lines)
		b.ends = append(b.ends, len(b.lines))
		b.origin = append(b.origin, len(b.msgs)-1)
	}
}

// points is the number of lines of line protocol.
func (b *batch) points() int { return len(b.ends) }

// span returns the bytes of lines [lo, hi).
func (b *batch) span(lo, hi int) []byte {
	start := 0
	if lo > 0 {
		start = b.ends[lo-1]
	}
	return b.lines[start:b.ends[hi-1]]
}
