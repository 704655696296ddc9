package remotewrite

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
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
// device gauges: its time, at its time; its upload, at its upload.
func (p *part) Add(msg *message.Message, r *mapping.Result, received time.Time) {
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
	// The last upload, on the clock the registry's gauge uses: when flespi
	// received the message. One sample a device a batch, the newest.
	up := time.Unix(0, message.UploadTime(msg.ServerTime(), received))
	se := p.add(p.received.Name, r.Tags, nil, sample{up.UnixMilli(), mapping.UnixSeconds(up)})
	if n := len(se.samples); n > 1 {
		if se.samples[n-1].ms < se.samples[0].ms {
			se.samples[n-1] = se.samples[0]
		}
		se.samples[0], se.samples = se.samples[n-1], se.samples[:1]
	}
}

func (p *part) add(name string, tags []mapping.Tag, labels []mapping.Label, s sample) *series {
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
	}
	if len(se.samples) == 0 { // first of this batch
		p.order = append(p.order, se)
	}
	se.samples = append(se.samples, s)
	return se
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

// keptSeries bounds the series a part keeps from one batch to the next:
// a fleet's devices report again, and their series (labels, key) need not
// be made anew each batch (that was a third of remote write's CPU).
const keptSeries = 50_000

func (p *part) Reset() {
	for _, se := range p.order {
		se.samples = se.samples[:0]
	}
	p.order = p.order[:0]
	if len(p.series) > keptSeries {
		clear(p.series)
	}
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
// series a time: the last of a time wins, as on /metrics and in InfluxDB
// (a resent message makes the same one again). done, when not nil, names
// the series whose samples of this batch the receiver has already (an
// earlier try of the batch took them): they are left out.
func (p *part) requests(batch int, done func(*series) bool) []*writeRequest {
	var out []*writeRequest
	req := &writeRequest{}
	for _, se := range p.order {
		se.samples = lastOfEachTime(se.samples)
		if done != nil && done(se) {
			continue
		}
		if req.samples > 0 && req.samples+len(se.samples) > batch {
			out = append(out, req)
			req = &writeRequest{}
		}
		req.add(se.labels, se.samples)
	}
	if req.samples > 0 {
		out = append(out, req)
	}
	return out
}

// lastOfEachTime sorts samples by time and keeps the last added of each
// time.
func lastOfEachTime(ss []sample) []sample {
	slices.SortStableFunc(ss, func(a, b sample) int { return cmp.Compare(a.ms, b.ms) })
	out := ss[:0]
	for i, s := range ss {
		if i+1 < len(ss) && ss[i+1].ms == s.ms {
			continue
		}
		out = append(out, s)
	}
	return out
}

// writeRequest is one request: series, each with some of its samples.
type writeRequest struct {
	chunks  []chunk
	samples int
}

// chunk is a series in a request, with the samples of it the request
// carries (all of the batch's, or some, when a refusal is narrowed down).
type chunk struct {
	labels  []mapping.Label
	samples []sample
}

func (w *writeRequest) add(labels []mapping.Label, samples []sample) {
	w.chunks = append(w.chunks, chunk{labels, samples})
	w.samples += len(samples)
}

// encode appends the request as the receiver reads it: a remote write 1.0
// prometheus.WriteRequest, or 2.0's io.prometheus.write.v2.Request.
func (w *writeRequest) encode(b []byte, v2 bool) ([]byte, error) {
	if v2 {
		return w.v2().MarshalVT()
	}
	return w.encodeV1(b), nil
}

// encodeV1 writes a remote write 1.0 prometheus.WriteRequest by hand (its
// four small messages: WriteRequest, TimeSeries, Label, Sample) rather
// than through Prometheus' module. Each message's length comes before it:
// sizes are worked out first, and everything is appended to one buffer,
// without a slice per label or sample (those made remote write cost ten
// times InfluxDB's CPU).
func (w *writeRequest) encodeV1(b []byte) []byte {
	size := 0
	for _, c := range w.chunks {
		n := chunkSize(c)
		size += 1 + protowire.SizeVarint(uint64(n)) + n
	}
	b = slices.Grow(b[:0], size)
	for _, c := range w.chunks {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(chunkSize(c)))
		for _, l := range c.labels {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(labelSize(l)))
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, l.Name)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, l.Value)
		}
		for _, s := range c.samples {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(sampleSize(s)))
			b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(s.value))
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(s.ms))
		}
	}
	return b
}

// The sizes of the messages of a TimeSeries (each field: a one-byte tag,
// a length for strings and messages, the bytes).
func labelSize(l mapping.Label) int {
	return 1 + protowire.SizeBytes(len(l.Name)) + 1 + protowire.SizeBytes(len(l.Value))
}

func sampleSize(s sample) int { return 1 + 8 + 1 + protowire.SizeVarint(uint64(s.ms)) }

func chunkSize(c chunk) int {
	n := 0
	for _, l := range c.labels {
		m := labelSize(l)
		n += 1 + protowire.SizeVarint(uint64(m)) + m
	}
	for _, s := range c.samples {
		m := sampleSize(s)
		n += 1 + protowire.SizeVarint(uint64(m)) + m
	}
	return n
}

// v2 is the request in remote write 2.0: strings in a symbol table, each
// series a gauge (its metadata).
func (w *writeRequest) v2() *writev2.Request {
	symbols := writev2.NewSymbolTable()
	req := &writev2.Request{}
	var flat []string
	for _, c := range w.chunks {
		flat = flat[:0]
		for _, l := range c.labels {
			flat = append(flat, l.Name, l.Value)
		}
		ts := &writev2.TimeSeries{
			LabelsRefs: symbols.SymbolizeLabels(flat, nil),
			Metadata:   &writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE},
		}
		for _, s := range c.samples {
			ts.Samples = append(ts.Samples, &writev2.Sample{Value: s.value, Timestamp: s.ms})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = symbols.Symbols()
	return req
}
