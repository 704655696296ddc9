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
	labels []mapping.Label    // ident and message tags, sorted; owned
	series map[string]*series // by seriesKey
	// order holds the series of the device's last message, in the order
	// of its samples. A device's messages repeat their parameters in one
	// order, so the i-th sample is most often order[i]'s: one pointer
	// comparison instead of building a key and a map lookup.
	order []*series
}

// family is one gauge name. Its help is the first one seen, so that two
// rules with one gauge name cannot make an inconsistent family.
type family struct {
	name, help string
}

// series is one gauge series of a device.
type series struct {
	fam     *family
	gauge   *mapping.Gauge // rule labels and TTL, of the last update; shared with the mapping
	value   float64
	msgTime int64 // Unix nanoseconds, as mapping.Sample.Time
	updated time.Time
	expired bool // removed from its device; a device's order may still hold it
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
}

// Update applies the samples of a stored batch: groups index samples.
func (g *Store) Update(groups []Group, samples []mapping.Sample) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var key []byte
	for gi := range groups {
		grp := &groups[gi]
		key = appendLabelKey(key[:0], grp.Labels)
		dev := g.devices[string(key)]
		if dev == nil {
			dev = &device{labels: slices.Clone(grp.Labels), series: map[string]*series{}}
			g.devices[string(key)] = dev
		}
		g.updateDevice(dev, samples[grp.Start:grp.End], now, &key)
		if len(dev.series) == 0 { // everything refused
			delete(g.devices, string(appendLabelKey(key[:0], grp.Labels)))
		}
	}
	if now.Sub(g.lastSweep) >= sweepEvery {
		g.sweep(now)
	}
	g.logRefusals(now)
}

// updateDevice sets the series of dev that samples, one message's, name.
// g.mu is held; key is scratch space.
func (g *Store) updateDevice(dev *device, samples []mapping.Sample, now time.Time, key *[]byte) {
	for i := range samples {
		s := &samples[i]
		var cur *series
		if i < len(dev.order) {
			if o := dev.order[i]; o != nil && !o.expired && sameGauge(o.gauge, s.Gauge) {
				cur = o
			}
		}
		if cur == nil {
			cur = g.lookup(dev, s, now, key)
			if i < len(dev.order) {
				dev.order[i] = cur
			} else {
				dev.order = append(dev.order, cur)
			}
			continue // a new series has its value already
		}
		if s.Time >= cur.msgTime {
			cur.value, cur.msgTime, cur.updated, cur.gauge = s.Value, s.Time, now, s.Gauge
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
// cap allows. It returns the series, nil when refused. g.mu is held; key is
// scratch space.
func (g *Store) lookup(dev *device, s *mapping.Sample, now time.Time, key *[]byte) *series {
	k := s.Name
	if len(s.Labels) > 0 {
		*key = appendLabelKey(append((*key)[:0], s.Name...), s.Labels)
		k = bytesview.String(*key) // only for the lookup
	}
	if cur := dev.series[k]; cur != nil {
		if s.Time >= cur.msgTime {
			cur.value, cur.msgTime, cur.updated, cur.gauge = s.Value, s.Time, now, s.Gauge
		}
		return cur
	}
	if g.series+g.othersNow() >= g.max {
		g.refused.Inc()
		g.refusedSince[s.Name]++
		return nil
	}
	if len(s.Labels) > 0 {
		k = string(*key)
	}
	cur := &series{fam: g.family(s.Name, s.Help), gauge: s.Gauge, value: s.Value, msgTime: s.Time, updated: now}
	dev.series[k] = cur
	g.series++
	return cur
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
	for dk, dev := range g.devices {
		for k, s := range dev.series {
			if s.gauge.TTL > 0 && now.Sub(s.updated) > s.gauge.TTL {
				delete(dev.series, k)
				s.expired = true
				g.series--
				g.expired.Inc()
			}
		}
		if len(dev.series) == 0 {
			delete(g.devices, dk)
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
		for _, s := range dev.series {
			byFamily[s.fam] = append(byFamily[s.fam], snapshot{dev.labels, s.gauge.Labels, s.value})
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
