// Package gauges is the Prometheus output: the latest value of every device
// gauge series, kept per device, expired after its TTL, bounded in series,
// and written in the text format for /metrics.
package gauges

import (
	"bufio"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/internal/bytesview"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// sweepEvery is how often updates look for expired series; scrapes look
// every time.
const sweepEvery = 30 * time.Second

// refusedLogEvery bounds the log lines about the series cap.
const refusedLogEvery = time.Minute

// Store holds the latest value of every device gauge series and writes
// them in the Prometheus text format. Values are only replaced by newer
// messages: flespi delivers a device's buffered data late, after newer
// messages, and a gauge must never go back in time. Series not updated for
// their TTL disappear, on updates and on scrapes alike, so no ticker is
// needed. Past max series, new series are refused and counted.
//
// Series are kept per device (ident and message tags), each device's by
// gauge name and rule labels: an update looks a device up once per message
// and each of its gauges by a short key, and a scrape writes the text
// directly, without a metric object per series.
type Store struct {
	mu        sync.Mutex
	devices   map[string]*device // by deviceKey
	families  map[string]*family
	series    int // held now
	max       int
	others    func() int // series held elsewhere that count against max (the registry's)
	now       func() time.Time
	lastSweep time.Time
	log       *slog.Logger

	refusedSince map[string]int // refused series by gauge name, since the last log line
	lastRefusal  time.Time

	expired prometheus.Counter
	refused prometheus.Counter
}

// device is one device's labels and gauge series.
type device struct {
	labels []mapping.Label // ident and message tags, sorted; owned
	store  *Store          // whose it is (a mapping.Device slot holds it)
	gone   bool            // removed from the store
	// series are the device's, side by side: a message updates most of
	// them, and a run of memory costs fewer cache misses than as many
	// objects scattered over the heap (those were most of an update's
	// time). An expired series leaves a hole (fam nil), which the next new
	// series of the device takes (free).
	series []series
	index  map[string]int32 // position in series by seriesKey
	free   []int32          // holes in series
	// order holds the positions of the series of the device's last
	// message, in the order of its samples. A device's messages repeat
	// their parameters in one order, so the i-th sample is most often
	// order[i]'s: one comparison instead of building a key and a map
	// lookup.
	order []int32
}

// family is one gauge name. Its help is the first one seen, so that two
// rules with one gauge name cannot make an inconsistent family.
type family struct {
	name, help string
}

// series is one gauge series of a device.
type series struct {
	fam     *family        // nil: a hole, expired
	gauge   *mapping.Gauge // rule labels and TTL, of the last update; shared with the mapping
	value   float64
	msgTime int64 // Unix nanoseconds, as mapping.Sample.Time
	updated int64 // when, by the exporter's clock, Unix nanoseconds
}

// set takes the sample when it is not older than the value held.
func (cur *series) set(s *mapping.Sample, now int64) {
	if s.Time >= cur.msgTime {
		cur.value, cur.msgTime, cur.updated = s.Value, s.Time, now
		if cur.gauge != s.Gauge { // after a reload: most often the same pointer, and no write barrier
			cur.gauge = s.Gauge
		}
	}
}

// New returns an empty Store of at most max series, with its metrics
// registered with reg.
func New(max int, now func() time.Time, reg prometheus.Registerer, log *slog.Logger) *Store {
	f := promauto.With(reg)
	g := &Store{
		devices:      map[string]*device{},
		families:     map[string]*family{},
		max:          max,
		now:          now,
		log:          log,
		refusedSince: map[string]int{},
		expired:      f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_device_series_expired_total", Help: "Device gauge series removed after their TTL without updates."}),
		refused:      f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_device_series_refused_total", Help: "New device gauge series refused because prometheus.max_series were held."}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flespi_exporter_device_series", Help: "Device gauge series held now, the device registry's (three a device) included."}, func() float64 { return float64(g.Count() + g.othersNow()) })
	f.NewGauge(prometheus.GaugeOpts{Name: "flespi_exporter_device_series_limit", Help: "The most device gauge series held at once (prometheus.max_series)."}).Set(float64(max))
	return g
}

// CountAlso makes the series others reports count against the cap: the
// device registry's three gauges a device, which /metrics serves beside
// these (200,000 devices made a 44.5 MB /metrics the cap did not see).
func (g *Store) CountAlso(others func() int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.others = others
}

func (g *Store) othersNow() int {
	if g.others == nil {
		return 0
	}
	return g.others()
}

// Group is the samples of one message: its device's labels (ident and
// message tags, sorted by name; not owned) and a range of a samples slice.
// A sample's Labels are its rule's, shared with the mapping and never
// modified; its Time orders the updates of a series.
type Group struct {
	Labels     []mapping.Label
	Start, End int
	Device     *mapping.Device // the device's place (mapping.Result.Device); may be nil
}

// slot is the Store's place in every mapping.Device.
var slot = mapping.NewSlot()

// Update applies the samples of a stored batch: groups index samples.
func (g *Store) Update(groups []Group, samples []mapping.Sample) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var key []byte
	for gi := range groups {
		grp := &groups[gi]
		dev := g.device(grp, &key)
		g.updateDevice(dev, samples[grp.Start:grp.End], now.UnixNano(), &key)
		if len(dev.index) == 0 { // everything refused
			delete(g.devices, string(appendLabelKey(key[:0], grp.Labels)))
			dev.gone = true
		}
	}
	if now.Sub(g.lastSweep) >= sweepEvery {
		g.sweep(now)
	}
	g.logRefusals(now)
}

// device finds or makes the device of grp: the one its mapping.Device
// holds when that is still this Store's with these labels, else by its
// labels. g.mu is held; key is scratch space.
func (g *Store) device(grp *Group, key *[]byte) *device {
	if dev, ok := grp.Device.Get(slot).(*device); ok && dev.store == g && !dev.gone && slices.Equal(dev.labels, grp.Labels) {
		return dev
	}
	*key = appendLabelKey((*key)[:0], grp.Labels)
	dev := g.devices[string(*key)]
	if dev == nil {
		dev = &device{labels: slices.Clone(grp.Labels), store: g, index: map[string]int32{}}
		g.devices[string(*key)] = dev
	}
	grp.Device.Set(slot, dev)
	return dev
}

// updateDevice sets the series of dev that samples, one message's, name.
// g.mu is held; key is scratch space.
func (g *Store) updateDevice(dev *device, samples []mapping.Sample, now int64, key *[]byte) {
	for i := range samples {
		s := &samples[i]
		if i < len(dev.order) {
			if o := dev.order[i]; o >= 0 {
				if cur := &dev.series[o]; cur.fam != nil && sameGauge(cur.gauge, s.Gauge) {
					cur.set(s, now)
					continue
				}
			}
		}
		at := g.lookup(dev, s, now, key)
		if i < len(dev.order) {
			dev.order[i] = at
		} else {
			dev.order = append(dev.order, at)
		}
	}
	dev.order = dev.order[:len(samples)]
}

// sameGauge reports whether two gauges are one series of a device. Samples
// of one rule and name share their Gauge, so the pointers most often tell.
func sameGauge(a, b *mapping.Gauge) bool {
	return a == b || (a.Name == b.Name && slices.Equal(a.Labels, b.Labels))
}

// lookup finds the series of s in dev and updates it, or makes it when the
// cap allows. It returns the series' position in dev.series, -1 when
// refused. g.mu is held; key is scratch space.
func (g *Store) lookup(dev *device, s *mapping.Sample, now int64, key *[]byte) int32 {
	k := s.Name
	if len(s.Labels) > 0 {
		*key = appendLabelKey(append((*key)[:0], s.Name...), s.Labels)
		k = bytesview.String(*key) // only for the lookup
	}
	if at, ok := dev.index[k]; ok {
		dev.series[at].set(s, now)
		return at
	}
	if g.series+g.othersNow() >= g.max {
		g.refused.Inc()
		g.refusedSince[s.Name]++
		return -1
	}
	if len(s.Labels) > 0 {
		k = string(*key)
	}
	cur := series{fam: g.family(s.Name, s.Help), gauge: s.Gauge, value: s.Value, msgTime: s.Time, updated: now}
	var at int32
	if n := len(dev.free); n > 0 {
		at, dev.free = dev.free[n-1], dev.free[:n-1]
		dev.series[at] = cur
	} else {
		at = int32(len(dev.series))
		dev.series = append(dev.series, cur)
	}
	dev.index[k] = at
	g.series++
	return at
}

func (g *Store) family(name, help string) *family {
	f, ok := g.families[name]
	if !ok {
		f = &family{name: name, help: help}
		g.families[name] = f
	}
	return f
}

// appendLabelKey writes labels as a map key.
func appendLabelKey(b []byte, labels []mapping.Label) []byte {
	for _, l := range labels {
		b = append(b, 0xff)
		b = append(b, l.Name...)
		b = append(b, 0xfe)
		b = append(b, l.Value...)
	}
	return b
}

// sweep removes the series whose TTL has passed, and devices left without
// series. g.mu is held.
func (g *Store) sweep(now time.Time) {
	g.lastSweep = now
	ns := now.UnixNano()
	for dk, dev := range g.devices {
		for k, at := range dev.index {
			if s := &dev.series[at]; s.gauge.TTL > 0 && ns-s.updated > int64(s.gauge.TTL) {
				delete(dev.index, k)
				*s = series{} // a hole: a device's order may still point here
				dev.free = append(dev.free, at)
				g.series--
				g.expired.Inc()
			}
		}
		if len(dev.index) == 0 {
			delete(g.devices, dk)
			dev.gone = true
		}
	}
}

// logRefusals says, at most once a minute, how many series the cap refused
// and which gauge asked for the most. g.mu is held.
func (g *Store) logRefusals(now time.Time) {
	if len(g.refusedSince) == 0 || now.Sub(g.lastRefusal) < refusedLogEvery {
		return
	}
	total, top, topN := 0, "", 0
	for name, n := range g.refusedSince {
		total += n
		if n > topN || (n == topN && name < top) {
			top, topN = name, n
		}
	}
	g.log.Warn("gauge series cap reached: new series refused (raise prometheus.max_series, or drop or relabel the growing gauge)",
		"max_series", g.max, "refused", total, "growing_fastest", top, "refused_for_it", topN)
	clear(g.refusedSince)
	g.lastRefusal = now
}

// snapshot is one series as a scrape writes it.
type snapshot struct {
	device, labels []mapping.Label
	value          float64
}

// Count is the number of series held.
func (g *Store) Count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.series
}

// Expire removes the series whose TTL has passed; scrapes call it first, so
// that the series count they report is current.
func (g *Store) Expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(g.now())
}

// WriteText writes every series in the Prometheus text format (version
// 0.0.4), family by family in name order. The values
// are copied under the lock and written after it, so that a scrape of many
// series does not hold up the receiver. A device without a message tag
// (device.name) simply lacks that label.
func (g *Store) WriteText(w io.Writer) error {
	g.mu.Lock()
	byFamily := make(map[*family][]snapshot, len(g.families))
	for _, dev := range g.devices {
		for i := range dev.series {
			if s := &dev.series[i]; s.fam != nil {
				byFamily[s.fam] = append(byFamily[s.fam], snapshot{dev.labels, s.gauge.Labels, s.value})
			}
		}
	}
	g.mu.Unlock()

	fams := make([]*family, 0, len(byFamily))
	for f := range byFamily {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for _, f := range fams {
		line = append(line[:0], "# HELP "...)
		line = append(line, f.name...)
		line = append(line, ' ')
		line = AppendHelp(line, f.help)
		line = append(line, "\n# TYPE "...)
		line = append(line, f.name...)
		line = append(line, " gauge\n"...)
		for _, s := range byFamily[f] {
			line = AppendSeries(line, f.name, s.device, s.labels, s.value)
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
