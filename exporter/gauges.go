package exporter

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// sweepEvery is how often updates look for expired series; scrapes look
// every time.
const sweepEvery = 30 * time.Second

// refusedLogEvery bounds the log lines about the series cap.
const refusedLogEvery = time.Minute

// gaugeStore holds the latest value of every device gauge series and
// exposes them as a Prometheus collector. Values are only replaced by
// newer messages: flespi delivers a device's buffered data late, after
// newer messages, and a gauge must never go back in time. Series not updated
// for their TTL disappear, on updates and on scrapes alike, so no ticker is
// needed. Past max series, new series are refused and counted.
type gaugeStore struct {
	mu        sync.Mutex
	families  map[string]*family
	series    map[string]*series // by seriesKey
	max       int
	now       func() time.Time
	lastSweep time.Time
	log       *slog.Logger

	refusedSince map[string]int // refused series by gauge name, since the last log line
	lastRefusal  time.Time

	expired prometheus.Counter
	refused prometheus.Counter
}

// family is one gauge name. Its help is the first one seen, so that two
// rules with one gauge name cannot make an inconsistent family.
type family struct {
	name, help string
}

// series is one gauge series: its labels (owned, sorted by name), its
// value, the time of the message it came from, and when it was updated.
type series struct {
	fam     *family
	labels  []mapping.Label
	value   float64
	msgTime time.Time
	updated time.Time
	ttl     time.Duration // 0: never expires
}

func newGaugeStore(max int, now func() time.Time, reg prometheus.Registerer, log *slog.Logger) *gaugeStore {
	g := &gaugeStore{
		families:     map[string]*family{},
		series:       map[string]*series{},
		max:          max,
		now:          now,
		log:          log,
		refusedSince: map[string]int{},
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_device_series_expired_total",
			Help: "Device gauge series removed after their TTL without updates.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_device_series_refused_total",
			Help: "New device gauge series refused because prometheus.max_series were held.",
		}),
	}
	count := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flespi_exporter_device_series",
		Help: "Device gauge series held now.",
	}, func() float64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		return float64(len(g.series))
	})
	limit := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flespi_exporter_device_series_limit",
		Help: "The most device gauge series held at once (prometheus.max_series).",
	})
	limit.Set(float64(max))
	reg.MustRegister(g, g.expired, g.refused, count, limit)
	return g
}

// gaugeSample is a value for one series, as a batch keeps it.
type gaugeSample struct {
	name, help string
	labels     []mapping.Label // sorted by name; not owned
	value      float64
	at         time.Time // the time that orders updates
	ttl        time.Duration
}

// update applies the samples of an acknowledged batch.
func (g *gaugeStore) update(samples []gaugeSample) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var key []byte
	for i := range samples {
		s := &samples[i]
		key = appendSeriesKey(key[:0], s.name, s.labels)
		if cur, ok := g.series[string(key)]; ok {
			if !s.at.Before(cur.msgTime) {
				cur.value, cur.msgTime, cur.updated, cur.ttl = s.value, s.at, now, s.ttl
			}
			continue
		}
		if len(g.series) >= g.max {
			g.refused.Inc()
			g.refusedSince[s.name]++
			continue
		}
		g.series[string(key)] = &series{
			fam:     g.family(s.name, s.help),
			labels:  append([]mapping.Label(nil), s.labels...),
			value:   s.value,
			msgTime: s.at,
			updated: now,
			ttl:     s.ttl,
		}
	}
	if now.Sub(g.lastSweep) >= sweepEvery {
		g.sweep(now)
	}
	g.logRefusals(now)
}

func (g *gaugeStore) family(name, help string) *family {
	f, ok := g.families[name]
	if !ok {
		f = &family{name: name, help: help}
		g.families[name] = f
	}
	return f
}

// appendSeriesKey writes name and labels as one map key.
func appendSeriesKey(b []byte, name string, labels []mapping.Label) []byte {
	b = append(b, name...)
	for _, l := range labels {
		b = append(b, 0xff)
		b = append(b, l.Name...)
		b = append(b, 0xfe)
		b = append(b, l.Value...)
	}
	return b
}

// sweep removes the series whose TTL has passed. g.mu is held.
func (g *gaugeStore) sweep(now time.Time) {
	g.lastSweep = now
	for k, s := range g.series {
		if s.ttl > 0 && now.Sub(s.updated) > s.ttl {
			delete(g.series, k)
			g.expired.Inc()
		}
	}
}

// logRefusals says, at most once a minute, how many series the cap refused
// and which gauge asked for the most. g.mu is held.
func (g *gaugeStore) logRefusals(now time.Time) {
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

// Describe sends nothing: the gauges depend on the messages, so this is an
// unchecked collector.
func (g *gaugeStore) Describe(chan<- *prometheus.Desc) {}

// snapshot is one series as a scrape reads it.
type snapshot struct {
	fam    *family
	labels []mapping.Label
	value  float64
}

// Collect expires old series, then builds a metric per series outside the
// lock, so that a scrape of many series does not hold up the receiver.
func (g *gaugeStore) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	g.sweep(g.now())
	snaps := make([]snapshot, 0, len(g.series))
	for _, s := range g.series {
		snaps = append(snaps, snapshot{s.fam, s.labels, s.value})
	}
	g.mu.Unlock()

	// One gauge name must have one set of label names in an exposition; a
	// series without a label that others of its name have (a device with no
	// device.name, say) gets it empty, which Prometheus reads as absent.
	names := map[*family][]string{}
	for _, s := range snaps {
		names[s.fam] = unionNames(names[s.fam], s.labels)
	}
	descs := make(map[*family]*prometheus.Desc, len(names))
	for f, ln := range names {
		descs[f] = prometheus.NewDesc(f.name, f.help, ln, nil)
	}
	values := []string{}
	for _, s := range snaps {
		values = labelValues(values[:0], names[s.fam], s.labels)
		ch <- prometheus.MustNewConstMetric(descs[s.fam], prometheus.GaugeValue, s.value, values...)
	}
}

// unionNames adds the label names of labels to the sorted list names.
func unionNames(names []string, labels []mapping.Label) []string {
	for _, l := range labels {
		i := sort.SearchStrings(names, l.Name)
		if i == len(names) || names[i] != l.Name {
			names = append(names, "")
			copy(names[i+1:], names[i:])
			names[i] = l.Name
		}
	}
	return names
}

// labelValues lists the values of labels in the order of names, "" for
// the ones it lacks. Both are sorted.
func labelValues(out []string, names []string, labels []mapping.Label) []string {
	j := 0
	for _, n := range names {
		if j < len(labels) && labels[j].Name == n {
			out = append(out, labels[j].Value)
			j++
		} else {
			out = append(out, "")
		}
	}
	return out
}

// deviceGaugeNames are the per-device gauges every message updates.
func deviceGaugeNames(namespace string) (last, received string) {
	return namespace + "_device_last_message_timestamp_seconds",
		namespace + "_device_last_received_timestamp_seconds"
}

// unixSeconds is t as fractional Unix seconds. Whole seconds and the
// fraction are converted apart: 1717171200.25 stays exactly that.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
