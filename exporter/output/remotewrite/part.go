package remotewrite

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	writev2 "github.com/prometheus/client_golang/exp/api/remote/genproto/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// part is the Writer's share of a batch: its samples by series, each
// series' samples in time order (a receiver appends a series in order).
//
// A sample's series is found without building a key a sample: the
// message's device (its tags) once, then its gauges (pointers the mapping
// keeps for a parameter name) as one list, the device's last list most
// often; a device's series sit side by side in the batch, so a sample
// goes to an index. The series themselves, with
// their labels encoded once, are the Writer's (table), shared by every
// part: a part holds only its batch's samples, so series are neither made
// anew for each batch nor kept once per pooled batch (remote write cost
// four to five times the InfluxDB path's CPU a message, most of it
// garbage collection, while each part kept series of its own).
type part struct {
	t              *table
	last, received *mapping.Gauge
	batch          []batchSeries // of this batch, in the order first seen
	// slots are where each device's series begin in batch, in the order
	// of its list: a message of a device seen in the batch with the same
	// list adds each sample at an index, with no lookup a sample.
	slots map[*deviceSeries]slot
	// index finds a series in batch, once a device's list changed within
	// the batch or a list has a series twice (indexed: from then on,
	// every sample goes through it).
	index   map[*series]int
	indexed bool
	key     []byte
	gauges  []*mapping.Gauge // scratch: one message's gauges
	at      []int            // scratch: their series' places in batch
	upload  *message.Index   // server.timestamp, rest.timestamp
}

// slot is where a device's series begin in a part's batch.
type slot struct {
	list *seriesList
	base int
}

// batchSeries is a series' samples in one batch.
type batchSeries struct {
	*series
	samples []sample
}

// series is one series of a device: its gauge, and its labels encoded
// once. Its labels as a list are made again when asked for (a refused
// request, remote write 2.0): a fleet's series are many, and a list a
// series would hold its labels a second time.
type series struct {
	// The labels as a remote write 1.0 TimeSeries holds them: head, then
	// tail. A gauge without labels of its own has its __name__ as head,
	// one copy a name, and its device's tags as tail, one copy a device.
	head, tail []byte
	dev        *deviceSeries  // the device's tags
	gauge      *mapping.Gauge // its name and labels
}

// newSeriesOf makes the series of gauge g of a device; names holds the
// encoded __name__ labels, one a name.
func newSeriesOf(dev *deviceSeries, g *mapping.Gauge, names map[string][]byte) *series {
	se := &series{dev: dev, gauge: g}
	if len(g.Labels) > 0 || names == nil {
		se.tail = encodeLabels(se.labels())
		return se
	}
	if se.head = names[g.Name]; se.head == nil {
		se.head = encodeLabels([]mapping.Label{{Name: "__name__", Value: g.Name}})
		names[g.Name] = se.head
	}
	if dev.pb == nil {
		dev.pb = encodeLabels(seriesLabels("", dev.tags, nil)[1:])
	}
	se.tail = dev.pb
	return se
}

// name is the series' metric name.
func (se *series) name() string { return se.gauge.Name }

// labels are the series' labels as a receiver wants them: __name__, then
// sorted by name.
func (se *series) labels() []mapping.Label {
	return seriesLabels(se.gauge.Name, se.dev.tags, se.gauge.Labels)
}

type sample struct {
	ms    int64 // Unix milliseconds
	value float64
}

// table is the Writer's series, by device and gauge.
type table struct {
	mu      sync.RWMutex
	devices map[string]*deviceSeries // by the message's tags
	names   map[string][]byte        // each gauge name's __name__ label, encoded
	n       int                      // series held, for keptSeries
	gen     atomic.Uint64            // counts the times the table started anew
}

// deviceSeries are one device's series.
type deviceSeries struct {
	tags    []mapping.Tag // owned copies, shared by its series' labels
	pb      []byte        // the tags encoded, sorted, for its series' tails
	byGauge map[*mapping.Gauge]*series
	// lists are the series of the device's last gauge lists: a device
	// type's messages have the same gauges in the same order, and their
	// series are found by one comparison of the list.
	lists [2]*seriesList
	next  int
}

// seriesList is the series of a message's gauges, in their order. It
// does not change once made: parts keep it for their batch.
type seriesList struct {
	dev    *deviceSeries
	gauges []*mapping.Gauge
	series []*series
	twice  bool // a series comes twice (two gauges of one name and labels)
}

func newTable() *table {
	return &table{devices: map[string]*deviceSeries{}, names: map[string][]byte{}}
}

// keptSeries bounds the series the table holds: past it, it starts
// anew (a fleet's series are made again as its devices report).
const keptSeries = 200_000

// find returns the series of gauges of the device whose tags make key,
// making the missing ones.
func (t *table) find(key []byte, tags []mapping.Tag, gauges []*mapping.Gauge) *seriesList {
	t.mu.RLock()
	if dev := t.devices[string(key)]; dev != nil {
		for _, l := range dev.lists {
			if l != nil && slices.Equal(l.gauges, gauges) {
				t.mu.RUnlock()
				return l
			}
		}
	}
	t.mu.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n > keptSeries {
		clear(t.devices)
		clear(t.names)
		t.n = 0
		t.gen.Add(1)
	}
	dev := t.devices[string(key)]
	if dev == nil {
		dev = &deviceSeries{byGauge: map[*mapping.Gauge]*series{}}
		for _, tg := range tags {
			dev.tags = append(dev.tags, mapping.Tag{Key: strings.Clone(tg.Key), Value: strings.Clone(tg.Value)})
		}
		t.devices[string(key)] = dev
	}
	l := &seriesList{dev: dev, gauges: slices.Clone(gauges), series: make([]*series, len(gauges))}
	seen := make(map[*series]bool, len(gauges))
	for i, g := range gauges {
		if l.series[i] = dev.byGauge[g]; l.series[i] == nil {
			l.series[i] = t.newSeries(dev, g)
		}
		l.twice = l.twice || seen[l.series[i]]
		seen[l.series[i]] = true
	}
	dev.lists[dev.next] = l
	dev.next = (dev.next + 1) % len(dev.lists)
	return l
}

// newSeries finds or makes the series of gauge g of a device; t.mu is
// held. Two gauges of one name and labels (two parameters a rule maps to
// one series) share it.
func (t *table) newSeries(dev *deviceSeries, g *mapping.Gauge) *series {
	for _, se := range dev.byGauge {
		if se.gauge.Name == g.Name && slices.Equal(se.gauge.Labels, g.Labels) {
			dev.byGauge[g] = se
			return se
		}
	}
	se := newSeriesOf(dev, g, t.names)
	dev.byGauge[g] = se
	t.n++
	return se
}

// Add keeps the gauge samples of one message at its own time, and the
// device gauges: its time, at its time; its upload, at its upload.
func (p *part) Add(msg *message.Message, r *mapping.Result, received time.Time) {
	if r.Ident == "" {
		return
	}
	p.deviceKey(r.Tags)
	p.gauges = p.gauges[:0]
	for i := range r.Samples {
		p.gauges = append(p.gauges, r.Samples[i].Gauge)
	}
	p.gauges = append(p.gauges, p.received, p.last)
	p.place(p.listOf(r))
	at := r.Time.UnixMilli()
	for i := range r.Samples {
		p.add(p.at[i], sample{at, r.Samples[i].Value})
	}
	n := len(r.Samples)
	if !r.Future {
		p.add(p.at[n+1], sample{at, mapping.UnixSeconds(r.Time)})
	}
	// The last upload, on the clock the registry's gauge uses: when flespi
	// received the message. One sample a device a batch, the newest.
	p.upload.Read(msg)
	up := time.Unix(0, message.UploadTime(message.ServerTimeOf(p.upload.Get(msg, 0), p.upload.Get(msg, 1)), received))
	b := p.add(p.at[n], sample{up.UnixMilli(), mapping.UnixSeconds(up)})
	if n := len(b.samples); n > 1 {
		if b.samples[n-1].ms < b.samples[0].ms {
			b.samples[n-1] = b.samples[0]
		}
		b.samples[0], b.samples = b.samples[n-1], b.samples[:1]
	}
}

// placeSlot is remote write's place in every mapping.Device: the
// device's last series list, which its next message most often has too.
var placeSlot = mapping.NewSlot()

// placed is what a device's place holds: its last series list, found in
// table t at generation gen.
type placed struct {
	t    *table
	gen  uint64
	list *seriesList
}

// listOf returns the series of r's gauges (p.gauges): the list the
// device's place holds when its table has not started anew since, and
// the device's tags and gauges are that list's; else the table's, by the
// device's key.
func (p *part) listOf(r *mapping.Result) *seriesList {
	gen := p.t.gen.Load() // before find: a list found as the table starts anew is found again next time
	pl, _ := r.Device.Get(placeSlot).(*placed)
	if pl != nil && pl.t == p.t && pl.gen == gen && slices.Equal(pl.list.gauges, p.gauges) && slices.Equal(pl.list.dev.tags, r.Tags) {
		return pl.list
	}
	p.deviceKey(r.Tags)
	l := p.t.find(p.key, r.Tags, p.gauges)
	if r.Device != nil {
		if pl == nil {
			pl = &placed{}
			r.Device.Set(placeSlot, pl)
		}
		pl.t, pl.gen, pl.list = p.t, gen, l
	}
	return l
}

// deviceKey makes p.key, the series table's key of the device whose
// tags these are.
func (p *part) deviceKey(tags []mapping.Tag) {
	p.key = p.key[:0]
	for _, t := range tags {
		p.key = append(append(append(append(p.key, 0xff), t.Key...), 0xfe), t.Value...)
	}
}

// place fills p.at with the index in the batch of each series of l, in
// l's order, adding the series missing.
func (p *part) place(l *seriesList) {
	p.at = p.at[:0]
	if !p.indexed && !l.twice {
		s, ok := p.slots[l.dev]
		if !ok {
			s = slot{l, len(p.batch)}
			for _, se := range l.series {
				p.append(se)
			}
			p.slots[l.dev] = s
		}
		if s.list == l {
			for i := range l.series {
				p.at = append(p.at, s.base+i)
			}
			return
		}
	}
	if !p.indexed { // from now on, every series through the index
		for i := range p.batch {
			p.index[p.batch[i].series] = i
		}
		p.indexed = true
	}
	for _, se := range l.series {
		i, ok := p.index[se]
		if !ok {
			i = len(p.batch)
			p.append(se)
			p.index[se] = i
		}
		p.at = append(p.at, i)
	}
}

// append adds se to the batch, without samples.
func (p *part) append(se *series) {
	i := len(p.batch)
	if i < cap(p.batch) { // a slot of an earlier batch: its samples' memory too
		p.batch = p.batch[:i+1]
		p.batch[i].series, p.batch[i].samples = se, p.batch[i].samples[:0]
	} else {
		p.batch = append(p.batch, batchSeries{series: se})
	}
}

// add adds a sample to the batch's series i.
func (p *part) add(i int, s sample) *batchSeries {
	b := &p.batch[i]
	b.samples = append(b.samples, s)
	return b
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
// then sorted by name; tags are owned (the device's copies).
func seriesLabels(name string, tags []mapping.Tag, labels []mapping.Label) []mapping.Label {
	out := make([]mapping.Label, 0, 1+len(tags)+len(labels))
	for _, t := range tags {
		out = append(out, mapping.Label{Name: t.Key, Value: t.Value})
	}
	out = append(out, labels...)
	slices.SortFunc(out, func(a, b mapping.Label) int { return strings.Compare(a.Name, b.Name) })
	return append([]mapping.Label{{Name: "__name__", Value: name}}, out...)
}

func (p *part) Reset() {
	clear(p.index)
	clear(p.slots)
	p.indexed = false
	for i := range p.batch {
		p.batch[i].series = nil
	}
	p.batch = p.batch[:0]
}

func (p *part) Size() int {
	n := 0
	for _, b := range p.batch[:cap(p.batch)] {
		n += 16*cap(b.samples) + 32
	}
	return n
}

// requests cuts the part into requests of about batch samples (a series
// whole in one), each series' samples in time order, one sample of a
// series a time: the last of a time wins, as on /metrics and in InfluxDB
// (a resent message makes the same one again). done, when not nil, names
// the series whose samples of this batch the receiver has already (an
// earlier try of the batch took them): they are left out.
func (p *part) requests(batch int, done func(se *series, samples []sample) bool) []*writeRequest {
	var out []*writeRequest
	if done == nil {
		// The batch's own series, cut into requests in place: nothing is
		// copied a series.
		start, n := 0, 0
		for i := range p.batch {
			b := &p.batch[i]
			b.samples = lastOfEachTime(b.samples)
			if n > 0 && n+len(b.samples) > batch {
				out = append(out, &writeRequest{chunks: p.batch[start:i:i], samples: n})
				start, n = i, 0
			}
			n += len(b.samples)
		}
		if n > 0 {
			out = append(out, &writeRequest{chunks: p.batch[start:len(p.batch):len(p.batch)], samples: n})
		}
		return out
	}
	req := &writeRequest{}
	for i := range p.batch {
		b := &p.batch[i]
		b.samples = lastOfEachTime(b.samples)
		if done(b.series, b.samples) {
			continue
		}
		if req.samples > 0 && req.samples+len(b.samples) > batch {
			out = append(out, req)
			req = &writeRequest{}
		}
		req.add(b.series, b.samples)
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

// writeRequest is one request: series, each with the samples of it the
// request carries (all of the batch's, or some, when a refusal is
// narrowed down).
type writeRequest struct {
	chunks  []batchSeries
	samples int
}

func (w *writeRequest) add(se *series, samples []sample) {
	w.chunks = append(w.chunks, batchSeries{se, samples})
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
	// Room for the request at most: each sample at most maxSampleSize, a
	// series' tag and length at most 6 bytes. Each series' size is worked
	// out once, as it is written.
	size := maxSampleSize * w.samples
	for _, c := range w.chunks {
		size += 6 + len(c.head) + len(c.tail)
	}
	b = slices.Grow(b[:0], size)
	for _, c := range w.chunks {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(chunkSize(c)))
		b = append(append(b, c.head...), c.tail...)
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

// maxSampleSize is the most bytes a Sample takes in a TimeSeries: its
// tag, its length and the longest sampleSize.
const maxSampleSize = 1 + 1 + 1 + 8 + 1 + 10

func chunkSize(c batchSeries) int {
	n := len(c.head) + len(c.tail)
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
		for _, l := range c.labels() {
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
