// Package events is the fleet events output: it feeds each device's
// messages, held briefly to put them in device-time order, to its
// detector (exporter/fleet), stores the events they close in the stores
// that take them (InfluxDB's flespi_events, remote write's counters),
// persists the detectors' state and serves the device counters.
//
// It keeps the batch's delivery contract: it is a Store written after the
// others, and a batch is acknowledged once its messages are stored, the
// events they close are stored, and the state that closed them is in the
// journal. A SIGKILL at any point makes flespi send the batch again; the
// state restored is the journal's, so the same events close again (stores
// overwrite them: same time and tags) and the counters, which /metrics
// shows only once the journal has them, never go back nor count twice.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Writer is a store that takes fleet events: gauges are the device
// counters' series, built once, for a store that keys series by them.
type Writer interface {
	Name() string
	StoreEvents(ctx context.Context, recs []fleet.Record, counters []*mapping.Gauge) (pipeline.Stored, error)
}

// Options are what the output is built with.
type Options struct {
	Config    config.Events
	Dir       string // the data directory: events.state, events.journal
	Namespace string // of the counters' names
	Writers   []Writer
	// History are the stores of the events of imported history: the
	// points of InfluxDB, not the counters of remote write.
	History []Writer
	Now     func() time.Time
	Reg     prometheus.Registerer
	Log     *slog.Logger
}

// Output is the fleet events output.
type Output struct {
	mu      sync.Mutex
	cfg     config.Events
	window  int64 // reorder window, ms
	devices map[string]*device
	outbox  []fleet.Record // closed, not stored yet
	// shown holds, for each device changed since the journal last had
	// everything, what /metrics shows of it meanwhile: the journal's
	// (device.shown is its place here, plus one).
	shown      []shownDevice
	journal    *journal
	writers    []Writer
	historyW   []Writer
	history    map[string]*historyDevice // an import's detectors (history.go)
	pastOut    []fleet.Record            // history's events, not stored yet
	counters   []*mapping.Gauge
	now        func() time.Time
	log        *slog.Logger
	namespace  string
	last       int64     // the newest arrival clock seen, ms
	batch      uint32    // numbers the batches taken, to list each device a batch touched once
	touched    []*device // reused
	thresholds *Thresholds

	drains []Drain // the recent ones, oldest first (notes.go)

	lateN   prometheus.Counter
	closed  *prometheus.CounterVec
	failing string // the last error storing events, for the status page
}

// slot is the Output's place in every mapping.Device. Its devices stay
// for good, so a slot's device is current when it is the Output's.
var slot = mapping.NewSlot()

// device is one device's detector and queue. Its fields are in the order
// a message reads them: a thousand devices' state does not stay in the
// processor's caches between two batches, so each message of a device
// costs a fetch from memory for every 64 bytes of its state it reads,
// and the ones every message reads come first, the detector last.
type device struct {
	out       *Output         // whose it is (a mapping.Device slot holds it)
	st        *fleet.Settings // shared by the devices of one [[events.device]]
	jid, jgen uint32          // its id in the journal of generation jgen
	batch     uint32          // the last batch that had it
	shown     uint32          // its place in Output.shown, plus one; 0: none
	q         fleet.Queue
	tags      []mapping.Tag
	name      string
	ident     string
	det       fleet.Device
}

type shownDevice struct {
	d *device
	shown
}

// shown is what /metrics shows of a device whose detector has gone ahead
// of the journal (the events it closed are not stored yet).
type shown struct {
	totals  fleet.Totals
	motion  fleet.Motion
	drained int64 // when the last drain began, ms
}

// New opens the output's state in opt.Dir (restoring it from the
// snapshot and the journal) and registers its metrics.
func New(opt Options) (*Output, error) {
	o := &Output{cfg: opt.Config, window: time.Duration(opt.Config.ReorderWindow).Milliseconds(), devices: map[string]*device{},
		writers: opt.Writers, historyW: opt.History, history: map[string]*historyDevice{}, now: opt.Now, log: opt.Log, namespace: opt.Namespace}
	for _, c := range fleet.Counters {
		o.counters = append(o.counters, &mapping.Gauge{Name: opt.Namespace + "_device_" + c.Suffix, Help: c.Help})
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.thresholds = CompileThresholds(&o.cfg)
	j, err := openJournal(opt.Dir, o)
	if err != nil {
		return nil, err
	}
	o.journal = j
	f := promauto.With(opt.Reg)
	o.lateN = f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_event_late_messages_total",
		Help: "Messages older than what their device's event detector had passed already (past the reorder window): stored, but they make no event."})
	o.closed = f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_events_total", Help: "Fleet events closed and stored, by event."}, []string{"event"})
	return o, nil
}

// Name is the output's name.
func (o *Output) Name() string { return "events" }

// NewPart returns the output's part of a batch.
func (o *Output) NewPart() pipeline.Part { return &part{} }

// Store takes the batch's messages (once, however often the batch is
// stored), stores the events they close and what is left of earlier
// ones, and journals the state.
func (o *Output) Store(ctx context.Context, p pipeline.Part) (pipeline.Stored, error) {
	pt := p.(*part)
	o.mu.Lock()
	defer o.mu.Unlock()
	if pt.history {
		if !pt.taken {
			o.takeHistory(pt)
			pt.taken = true
		}
		n, err := o.flushHistory(ctx)
		return pipeline.Stored{Unit: "events", Stored: n, Quiet: true}, err
	}
	if !pt.taken {
		o.take(pt)
		pt.taken = true
	}
	n, err := o.flush(ctx)
	return pipeline.Stored{Unit: "events", Stored: n, Quiet: true}, err
}

// take queues the part's messages and passes what waited long enough.
func (o *Output) take(pt *part) {
	if len(pt.entries) == 0 {
		return
	}
	now := max(pt.received, o.last)
	o.last = now
	o.batch++
	touched := o.touched[:0]
	for i := range pt.entries {
		e := &pt.entries[i]
		d := o.device(e.ident, e.dev, pt.tags[e.tagLo:e.tagHi], pt.names[e.nameLo:e.nameHi])
		late, dup := d.q.Add(e.s, now)
		switch {
		case late:
			o.lateN.Inc()
			continue
		case dup:
			continue
		}
		o.journal.sample(o, d, e.s, now)
		if d.batch != o.batch {
			d.batch = o.batch
			touched = append(touched, d)
		}
	}
	for _, d := range touched {
		o.release(d, now, o.window)
	}
	clear(touched)
	o.touched = touched[:0]
	if cap(o.touched) > 4096 {
		o.touched = nil
	}
}

// device finds or makes the device of ident, its tags and name the
// newest ones: the one its mapping.Device holds when that is this
// Output's, else by ident.
func (o *Output) device(ident string, place *mapping.Device, tags []mapping.Tag, name []byte) *device {
	d, ok := place.Get(slot).(*device)
	if !ok || d.out != o {
		if d = o.devices[ident]; d == nil {
			d = &device{out: o, ident: ident}
			o.devices[ident] = d
		}
		place.Set(slot, d)
	}
	if !slices.Equal(d.tags, tags) || d.name != string(name) || d.jgen == 0 { // compared without a copy
		d.tags = append(d.tags[:0:0], tags...)
		d.name = string(name)
		for _, t := range d.tags {
			if t.Value == d.name {
				d.name = t.Value // one string for both
			}
		}
		d.st = o.thresholds.Of(ident, d.name)
		d.jgen = 0 // declare it again in the journal
	}
	return d
}

// release passes d's messages that waited the window by now to its
// detector; what they close goes to the outbox.
func (o *Output) release(d *device, now, window int64) {
	if len(d.q.Held) == 0 {
		return
	}
	if d.shown == 0 {
		o.shown = append(o.shown, shownDevice{d, d.showing()})
		d.shown = uint32(len(o.shown))
	}
	var closed []fleet.Event
	tot := d.det.Totals
	n := d.q.Release(now, window, func(s fleet.Sample) { closed = d.det.Pass(s, d.st, closed) })
	if n == 0 {
		return
	}
	o.journal.release(o, d, now, window)
	for i := range closed {
		tot.Add(&closed[i])
		if closed[i].Kind == fleet.Drain {
			o.noteDrain(d, &closed[i])
		}
		o.outbox = append(o.outbox, fleet.Record{Ident: d.ident, Tags: d.tags, Event: closed[i], Totals: tot})
	}
}

// flush stores the outbox in every writer, then journals what closed it,
// then shows the new counters. It returns the events stored.
func (o *Output) flush(ctx context.Context) (int, error) {
	n := len(o.outbox)
	if n > 0 {
		for _, w := range o.writers {
			if _, err := w.StoreEvents(ctx, o.outbox, o.counters); err != nil {
				o.failing = err.Error()
				return 0, fmt.Errorf("storing fleet events in %s: %w", w.Name(), err)
			}
		}
	}
	if err := o.journal.commit(); err != nil {
		o.failing = err.Error()
		return 0, err
	}
	o.failing = ""
	for i := range o.outbox {
		o.closed.WithLabelValues(o.outbox[i].Event.Kind.String()).Inc()
	}
	clear(o.outbox)
	o.outbox = o.outbox[:0]
	o.publish()
	return n, nil
}

// publish shows the journaled state on /metrics: the detectors'.
func (o *Output) publish() {
	for _, s := range o.shown {
		s.d.shown = 0
	}
	clear(o.shown)
	o.shown = o.shown[:0]
	if cap(o.shown) > 4096 { // a burst of devices does not keep its memory
		o.shown = nil
	}
}

// showing is what /metrics shows of d.
func (o *Output) showing(d *device) shown {
	if d.shown > 0 {
		return o.shown[d.shown-1].shown
	}
	return d.showing()
}

// showing is what the detector would show of d.
func (d *device) showing() shown { return shown{d.det.Totals, d.det.Motion(), d.det.Drained} }

// tickEvery is how often the held messages of quiet devices are looked at.
const tickEvery = 5 * time.Second

// Run passes the messages of devices that went quiet once they waited
// the window, stores what they close, and snapshots the state now and
// then, until ctx ends.
func (o *Output) Run(ctx context.Context) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			o.Tick(ctx)
		}
	}
}

// Tick releases what waited the window by now, stores it, and snapshots
// the state when the journal has grown.
func (o *Output) Tick(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now().UnixMilli()
	o.last = max(o.last, now)
	for _, d := range o.devices {
		o.release(d, now, o.window)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := o.flush(ctx); err != nil {
		o.log.Warn("fleet events not stored yet; trying again", "err", err)
		return
	}
	if o.journal.due() {
		if err := o.journal.snapshot(o); err != nil {
			o.log.Error("fleet events state not saved", "err", err)
		}
	}
}

// Close snapshots the state (the journal has it anyway).
func (o *Output) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.outbox) == 0 && !o.journal.pendingWrites() {
		if err := o.journal.snapshot(o); err != nil {
			o.log.Error("fleet events state not saved", "err", err)
		}
	}
	o.journal.close()
}

// Report is the output's section of the status page.
func (o *Output) Report() pipeline.Report {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := pipeline.Report{Output: "events", OK: o.failing == "", Facts: []string{fmt.Sprintf("%d devices, reorder window %s", len(o.devices), time.Duration(o.window)*time.Millisecond)}}
	if o.failing != "" {
		r.Attention = append(r.Attention, pipeline.Attention{Level: "bad", What: "fleet events are not stored: " + o.failing,
			Fix: "batches wait until they are (flespi keeps them); check the store named"})
	}
	return r
}

// Reload takes new thresholds; the reorder window too.
func (o *Output) Reload(cfg *config.Loaded) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cfg = cfg.Events
	o.window = time.Duration(cfg.Events.ReorderWindow).Milliseconds()
	o.thresholds = CompileThresholds(&o.cfg)
	for _, d := range o.devices {
		d.st = o.thresholds.Of(d.ident, d.name)
	}
	return nil
}

// Thresholds are the compiled thresholds of an [events] section: the
// section's and, over them, each [[events.device]] entry's, shared by the
// devices the entry matches.
type Thresholds struct {
	entries []config.EventsFor
	sets    []*fleet.Settings // [0] the section's, [i+1] entry i's
}

// CompileThresholds compiles cfg's thresholds.
func CompileThresholds(cfg *config.Events) *Thresholds {
	base := toSettings(cfg.EventThresholds, fleet.Settings{})
	t := &Thresholds{entries: cfg.Devices, sets: []*fleet.Settings{&base}}
	for _, d := range cfg.Devices {
		st := toSettings(d.EventThresholds, base)
		t.sets = append(t.sets, &st)
	}
	return t
}

// Of is the thresholds of a device: the first [[events.device]] whose
// patterns match changes what it sets.
func (t *Thresholds) Of(ident, name string) *fleet.Settings {
	for i, d := range t.entries {
		if config.DeviceMatches(d.Ident, d.Name, ident, name) {
			return t.sets[i+1]
		}
	}
	return t.sets[0]
}

// toSettings is t over base: what t leaves at 0 is base's.
func toSettings(t config.EventThresholds, base fleet.Settings) fleet.Settings {
	f := func(v float64, b *float64) {
		if v != 0 {
			*b = v
		}
	}
	d := func(v config.Duration, b *time.Duration) {
		if v != 0 {
			*b = time.Duration(v)
		}
	}
	s := base
	f(t.MovingSpeed, &s.MovingSpeed)
	if t.MinSatellites != 0 {
		s.MinSatellites = t.MinSatellites
	}
	d(t.TripMinDuration, &s.TripMinDuration)
	f(t.TripMinDistance, &s.TripMinDistance)
	d(t.StopMinDuration, &s.StopMinDuration)
	d(t.IgnitionOffMin, &s.IgnitionOffMin)
	d(t.MaxGap, &s.MaxGap)
	d(t.IdleMin, &s.IdleMin)
	f(t.SpeedLimit, &s.SpeedLimit)
	d(t.OverspeedMin, &s.OverspeedMin)
	f(t.MaxSpeed, &s.MaxSpeed)
	f(t.TankCapacity, &s.TankCapacity)
	f(t.RefuelMin, &s.RefuelMin)
	f(t.RefuelMinPercent, &s.RefuelMinPct)
	f(t.DrainMin, &s.DrainMin)
	f(t.DrainMinPercent, &s.DrainMinPct)
	d(t.FuelWindow, &s.FuelWindow)
	return s
}
