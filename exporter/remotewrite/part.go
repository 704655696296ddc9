package remotewrite

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// part is the Writer's share of a batch: its samples by series, each
// series' samples in time order (a receiver appends a series in order).
type part struct {
	last, received *mapping.Gauge
	series         map[string]*series // by labels
	order          []*series          // in the order first seen
	key            []byte
}

type series struct {
	labels  []mapping.Label // __name__ first, then by name
	samples []sample
}

type sample struct {
	ms    int64 // Unix milliseconds
	value float64
}

// Add keeps the gauge samples of one message at its own time, and the
// device gauges: its time, at its time; its arrival, at its arrival.
func (p *part) Add(_ *message.Message, r *mapping.Result, received time.Time) {
	if r.Ident == "" {
		return
	}
	at := r.Time.UnixMilli()
	for _, s := range r.Samples {
		p.add(s.Gauge.Name, r.Tags, s.Gauge.Labels, sample{at, s.Value})
	}
	if !r.Future {
		p.add(p.last.Name, r.Tags, nil, sample{at, mapping.UnixSeconds(r.Time)})
	}
	p.add(p.received.Name, r.Tags, nil, sample{received.UnixMilli(), mapping.UnixSeconds(received)})
}

func (p *part) add(name string, tags []mapping.Tag, labels []mapping.Label, s sample) {
	p.key = append(p.key[:0], name...)
	for _, t := range tags {
		p.key = append(append(append(append(p.key, 0xff), t.Key...), 0xfe), t.Value...)
	}
	for _, l := range labels {
		p.key = append(append(append(append(p.key, 0xff), l.Name...), 0xfe), l.Value...)
	}
	se := p.series[string(p.key)]
	if se == nil {
		se = &series{labels: seriesLabels(name, tags, labels)}
		p.series[string(p.key)] = se
		p.order = append(p.order, se)
	}
	se.samples = append(se.samples, s)
}

// seriesLabels are a series' labels as a receiver wants them: __name__,
// then sorted by name.
func seriesLabels(name string, tags []mapping.Tag, labels []mapping.Label) []mapping.Label {
	out := make([]mapping.Label, 0, 1+len(tags)+len(labels))
	for _, t := range tags {
		out = append(out, mapping.Label{Name: strings.Clone(t.Key), Value: strings.Clone(t.Value)})
	}
	out = append(out, labels...)
	slices.SortFunc(out, func(a, b mapping.Label) int { return strings.Compare(a.Name, b.Name) })
	return append([]mapping.Label{{Name: "__name__", Value: name}}, out...)
}

func (p *part) Reset() {
	clear(p.series)
	p.order = p.order[:0]
}

func (p *part) Size() int {
	n := 0
	for _, s := range p.order {
		n += 16*cap(s.samples) + 64*len(s.labels)
	}
	return n
}

// requests cuts the part into requests of about batch samples (a series
// whole in one), each series' samples in time order, one sample of a
// series a time (a resent message makes the same one again).
func (p *part) requests(batch int) []*writeRequest {
	var out []*writeRequest
	req := &writeRequest{}
	for _, se := range p.order {
		slices.SortStableFunc(se.samples, func(a, b sample) int { return cmp.Compare(a.ms, b.ms) })
		se.samples = slices.CompactFunc(se.samples, func(a, b sample) bool { return a.ms == b.ms })
		if req.samples > 0 && req.samples+len(se.samples) > batch {
			out = append(out, req)
			req = &writeRequest{}
		}
		req.series = append(req.series, se)
		req.samples += len(se.samples)
	}
	if req.samples > 0 {
		out = append(out, req)
	}
	return out
}

// writeRequest is a remote write 1.0 prometheus.WriteRequest, encoded by
// hand (its four small messages: WriteRequest, TimeSeries, Label, Sample)
// rather than through Prometheus' module: the client encodes any message
// with Size and MarshalToSizedBuffer.
type writeRequest struct {
	series  []*series
	samples int
	encoded []byte
}

func (w *writeRequest) encode() []byte {
	if w.encoded != nil {
		return w.encoded
	}
	var b, ts []byte
	for _, se := range w.series {
		ts = ts[:0]
		for _, l := range se.labels {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l.Name)
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l.Value)
			ts = protowire.AppendTag(ts, 1, protowire.BytesType)
			ts = protowire.AppendBytes(ts, lb)
		}
		for _, s := range se.samples {
			var sb []byte
			sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
			sb = protowire.AppendFixed64(sb, math.Float64bits(s.value))
			sb = protowire.AppendTag(sb, 2, protowire.VarintType)
			sb = protowire.AppendVarint(sb, uint64(s.ms))
			ts = protowire.AppendTag(ts, 2, protowire.BytesType)
			ts = protowire.AppendBytes(ts, sb)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	}
	w.encoded = b
	return b
}

// Size and MarshalToSizedBuffer are what the remote write client encodes
// a message with (gogo/protobuf's methods: the buffer is filled from its
// end).
func (w *writeRequest) Size() int { return len(w.encode()) }

func (w *writeRequest) MarshalToSizedBuffer(b []byte) (int, error) {
	enc := w.encode()
	copy(b[len(b)-len(enc):], enc)
	return len(enc), nil
}
