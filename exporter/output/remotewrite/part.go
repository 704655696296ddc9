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
//
// Series are found without building a key a sample: a message's device
// (its tags) once, then each gauge by its pointer, which the mapping keeps
// for a parameter name; and each series keeps its labels encoded, so that
// a request copies them (remote write cost four times the InfluxDB path's
// CPU a message while both were made anew for every sample).
type part struct {
	last, received *mapping.Gauge
	devices        map[string]*deviceSeries // by the message's tags
	n              int                      // series held, for keptSeries
	order          []*series                // of this batch, in the order first seen
	key            []byte
}

// deviceSeries are one device's series.
type deviceSeries struct {
	byGauge map[*mapping.Gauge]*series
	byKey   map[string]*series // by name and labels: two gauges of one series share it
}

type series struct {
	labels  []mapping.Label // __name__ first, then by name
	pb      []byte          // the labels as a remote write 1.0 TimeSeries holds them
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
	dev := p.device(r.Tags)
	at := r.Time.UnixMilli()
	for i := range r.Samples {
		s := &r.Samples[i]
		p.add(dev, s.Gauge, r.Tags, sample{at, s.Value})
	}
	if !r.Future {
		p.add(dev, p.last, r.Tags, sample{at, mapping.UnixSeconds(r.Time)})
	}
	// The last upload, on the clock the registry's gauge uses: when flespi
	// received the message. One sample a device a batch, the newest.
	up := time.Unix(0, message.UploadTime(msg.ServerTime(), received))
	se := p.add(dev, p.received, r.Tags, sample{up.UnixMilli(), mapping.UnixSeconds(up)})
	if n := len(se.samples); n > 1 {
		if se.samples[n-1].ms < se.samples[0].ms {
			se.samples[n-1] = se.samples[0]
		}
		se.samples[0], se.samples = se.samples[n-1], se.samples[:1]
	}
}

// device is the series of the device with tags.
func (p *part) device(tags []mapping.Tag) *deviceSeries {
	p.key = p.key[:0]
	for _, t := range tags {
		p.key = append(append(append(append(p.key, 0xff), t.Key...), 0xfe), t.Value...)
	}
	dev := p.devices[string(p.key)]
	if dev == nil {
		dev = &deviceSeries{byGauge: map[*mapping.Gauge]*series{}, byKey: map[string]*series{}}
		p.devices[string(p.key)] = dev
	}
	return dev
}

func (p *part) add(dev *deviceSeries, g *mapping.Gauge, tags []mapping.Tag, s sample) *series {
	se := dev.byGauge[g]
	if se == nil {
		se = p.newSeries(dev, g, tags)
	}
	if len(se.samples) == 0 { // first of this batch
		p.order = append(p.order, se)
	}
	se.samples = append(se.samples, s)
	return se
}

// newSeries finds or makes the series of gauge g of a device.
func (p *part) newSeries(dev *deviceSeries, g *mapping.Gauge, tags []mapping.Tag) *series {
	key := g.Name
	for _, l := range g.Labels {
		key += "\xff" + l.Name + "\xfe" + l.Value
	}
	se := dev.byKey[key]
	if se == nil {
		labels := seriesLabels(g.Name, tags, g.Labels)
		se = &series{labels: labels, pb: encodeLabels(labels)}
		dev.byKey[key] = se
		p.n++
	}
	dev.byGauge[g] = se
	return se
}

// encodeLabels writes labels as the Label fields of a remote write 1.0
// TimeSeries.
func encodeLabels(labels []mapping.Label) []byte {
	var b []byte
	for _, l := range labels {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(labelSize(l)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, l.Name)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, l.Value)
	}
	return b
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
	if p.n > keptSeries {
		clear(p.devices)
		p.n = 0
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
		req.add(se.labels, se.pb, se.samples)
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
	pb      []byte // labels encoded; nil: encoded when written
	samples []sample
}

func (w *writeRequest) add(labels []mapping.Label, pb []byte, samples []sample) {
	w.chunks = append(w.chunks, chunk{labels, pb, samples})
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
		if c.pb == nil {
			c.pb = encodeLabels(c.labels)
		}
		b = append(b, c.pb...)
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
	n := len(c.pb)
	if c.pb == nil {
		for _, l := range c.labels {
			m := labelSize(l)
			n += 1 + protowire.SizeVarint(uint64(m)) + m
		}
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
