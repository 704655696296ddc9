package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// recorder is a store of events that keeps each once by device, kind and
// start (as InfluxDB keeps a point by tags and time), and can fail.
type recorder struct {
	mu     sync.Mutex
	got    map[string]fleet.Record
	writes int
	fail   bool
	// killNext stores the next events and then fails as a process
	// killed before it journaled them would: killed says it happened.
	killNext, killed bool
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) StoreEvents(_ context.Context, recs []fleet.Record, _ []*mapping.Gauge) (pipeline.Stored, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return pipeline.Stored{}, errors.New("store down")
	}
	for _, rec := range recs {
		r.got[fmt.Sprintf("%s %s %d", rec.Ident, rec.Event.Kind, rec.Event.Start)] = rec
		r.writes++
	}
	if r.killNext {
		r.killNext, r.killed = false, true
		return pipeline.Stored{}, errors.New("killed after storing the events, before the journal has them")
	}
	return pipeline.Stored{Stored: len(recs)}, nil
}

type run struct {
	t    *testing.T
	out  *events.Output
	pipe *pipeline.Pipeline
	reg  *prometheus.Registry
	now  time.Time
}

func start(t *testing.T, dir string, rec *recorder) *run { return startWith(t, dir, rec, nil) }

// startWith is start with a store of the events of imported history.
func startWith(t *testing.T, dir string, rec, history *recorder) *run {
	t.Helper()
	r := &run{t: t, reg: prometheus.NewRegistry()}
	cfg := config.Default()
	cfg.Mapping.Tags = []string{"device.name"}
	var hist []events.Writer
	if history != nil {
		hist = append(hist, history)
	}
	o, err := events.New(events.Options{Config: cfg.Events, Dir: dir, Namespace: "flespi", Writers: []events.Writer{rec}, History: hist,
		Now: func() time.Time { return r.now }, Reg: r.reg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(cfg.Mapping, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.out, r.pipe = o, pipeline.Must(pipeline.New(m, []pipeline.Output{o}, nil, slog.New(slog.DiscardHandler)))
	return r
}

// send stores one batch as the HTTP stream does.
func (r *run) send(ds []fleettrace.Delivery) error { return r.sendFrom(pipeline.SourceHTTP, ds) }

// sendFrom stores one batch from source.
func (r *run) sendFrom(source pipeline.Source, ds []fleettrace.Delivery) error {
	at := ds[len(ds)-1].Arrival
	r.now = at
	b := r.pipe.Begin(source, at)
	defer b.Release()
	if err := b.Add(fleettrace.Body(ds)); err != nil {
		r.t.Fatal(err)
	}
	_, err := b.Store(context.Background())
	return err
}

// counters reads the device counters /metrics shows, summed over the
// devices, and the output's own metrics.
func (r *run) counters() map[string]float64 {
	var b strings.Builder
	if err := r.out.WriteMetrics(&b); err != nil {
		r.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			r.t.Fatalf("%q: %v", line, err)
		}
		out[line[:strings.IndexAny(line, "{ ")]] += v
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			out[mf.GetName()] += m.GetCounter().GetValue()
		}
	}
	return out
}

func batches(ds []fleettrace.Delivery, n int) [][]fleettrace.Delivery {
	var out [][]fleettrace.Delivery
	for len(ds) > 0 {
		k := min(n, len(ds))
		out = append(out, ds[:k])
		ds = ds[k:]
	}
	return out
}

var day0 = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

var tripsDay = fleettrace.WorkingDay()

// TestKilledMidTripCountsOnce: a day sent in batches, the output killed
// (dropped without closing) once after storing a batch's events but
// before journaling them, and once between batches, restarted from its
// files each time, the batch sent again, the rest of the day, then the
// whole day again: every event is stored once, the counters
// never went back, and they end at the scenario's totals.
func TestKilledMidTripCountsOnce(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{got: map[string]fleet.Record{}}
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 300, Seed: 11}, day0, tripsDay)
	bs := batches(day.Deliveries, 7)
	r := start(t, dir, rec)
	prev := map[string]float64{}
	check := func(when string) {
		now := r.counters()
		for name, v := range now {
			if strings.HasSuffix(name, "_total") && v < prev[name] {
				t.Errorf("%s: %s went back from %v to %v", when, name, prev[name], v)
			}
		}
		prev = now
	}
	kill := len(bs) / 3 // mid-way through the first drive
	killed := 0
	for i, b := range bs {
		if i == kill {
			rec.killNext = true // at the next batch that closes an event
		}
		err := r.send(b)
		if err != nil && rec.killed {
			rec.killed = false
			killed++
			r = start(t, dir, rec) // from its files; flespi sends the batch again
			check("restart")
			err = r.send(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("batch %d", i))
		if i == kill+2 {
			r = start(t, dir, rec) // killed between batches too
			check("restart between batches")
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d times, want once", killed)
	}
	r.now = day.End.Add(time.Hour)
	r.out.Tick(context.Background())
	check("tick")
	for i, b := range bs { // the whole day again
		if err := r.send(b); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("resent batch %d", i))
	}
	r.out.Tick(context.Background())
	want := map[fleet.Kind]int{}
	var tot fleet.Totals
	for i := range day.Expected {
		want[day.Expected[i].Kind]++
		tot.Add(&day.Expected[i])
	}
	got := map[fleet.Kind]int{}
	for _, e := range rec.got {
		got[e.Event.Kind]++
	}
	for _, k := range fleet.Kinds {
		if got[k] != want[k] {
			t.Errorf("%s: %d stored, want %d", k, got[k], want[k])
		}
	}
	c := r.counters()
	if c["flespi_device_trips_total"] != float64(tot.Trips) || c["flespi_device_overspeeds_total"] != float64(tot.Overspeeds) {
		t.Errorf("counters %v, want %d trips and %d overspeeds", c, tot.Trips, tot.Overspeeds)
	}
	if d := c["flespi_device_distance_meters_total"]; d < 0.98*tot.DistanceM || d > 1.02*tot.DistanceM {
		t.Errorf("distance %.0f m, want %.0f m", d, tot.DistanceM)
	}
	if d := c["flespi_device_fuel_drained_liters_total"]; d < 21 || d > 29 {
		t.Errorf("drained %.1f L, want 25: %v %v", d, c, rec.got)
	}
	if c["flespi_exporter_event_late_messages_total"] == 0 {
		t.Error("the day sent again counted no late messages")
	}
}

// TestStoreDownHoldsTheBatch: while the events' store fails, batches that
// close events are not acknowledged, and once it is back they are stored
// (the closed events were kept, not lost with the failed batch).
func TestStoreDownHoldsTheBatch(t *testing.T) {
	rec := &recorder{got: map[string]fleet.Record{}}
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "1", Lat: 50, Lon: 30, Fuel: 200, Seed: 3}, day0, tripsDay)
	r := start(t, t.TempDir(), rec)
	failed := 0
	for _, b := range batches(day.Deliveries, 5) {
		rec.mu.Lock()
		rec.fail = len(rec.got) >= 1 && failed == 0 // down after the first event
		rec.mu.Unlock()
		if err := r.send(b); err != nil {
			failed++
			rec.mu.Lock()
			rec.fail = false
			rec.mu.Unlock()
			if err := r.send(b); err != nil { // flespi sends it again
				t.Fatal(err)
			}
		}
	}
	r.now = day.End.Add(time.Hour)
	r.out.Tick(context.Background())
	if failed != 1 || len(rec.got) != len(day.Expected) {
		t.Errorf("%d batches failed, %d events stored, want 1 and %d", failed, len(rec.got), len(day.Expected))
	}
}

// TestSettingsPerDevice: the first [[events.device]] that matches wins,
// and what it leaves out is the section's.
func TestSettingsPerDevice(t *testing.T) {
	cfg := config.Default().Events
	cfg.SpeedLimit = 100
	cfg.Devices = []config.EventsFor{
		{Name: "Truck *", EventThresholds: config.EventThresholds{SpeedLimit: 90, TankCapacity: 400}},
		{Ident: "35*", EventThresholds: config.EventThresholds{SpeedLimit: 60}},
	}
	for _, c := range []struct {
		ident, name string
		limit, tank float64
	}{
		{"352093081234567", "Truck 7", 90, 400}, // the first entry wins over the second
		{"352093081234567", "Van 2", 60, 0},
		{"862001", "Van 3", 100, 0}, // the section's
	} {
		st := events.CompileThresholds(&cfg).Of(c.ident, c.name)
		if st.SpeedLimit != c.limit || st.TankCapacity != c.tank || st.IdleMin != 3*time.Minute {
			t.Errorf("%s %q: limit %v, tank %v, idle %v; want %v, %v, 3m", c.ident, c.name, st.SpeedLimit, st.TankCapacity, st.IdleMin, c.limit, c.tank)
		}
	}
}

// TestMetricsText: the counters on /metrics carry the device gauges'
// labels, a device without a tag has none of it, and the families are
// typed.
func TestMetricsText(t *testing.T) {
	rec := &recorder{got: map[string]fleet.Record{}}
	r := start(t, t.TempDir(), rec)
	for _, v := range []fleettrace.Vehicle{{Ident: "a1", Name: "Truck \"7\"", Lat: 50, Lon: 30, Fuel: 100, Seed: 1}, {Ident: "b2", Lat: 51, Lon: 31, Fuel: 100, Seed: 2}} {
		day := fleettrace.Generate(v, day0, tripsDay[:3])
		for _, b := range batches(day.Deliveries, 20) {
			if err := r.send(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.now = day0.Add(24 * time.Hour)
	r.out.Tick(context.Background())
	var b strings.Builder
	if err := r.out.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE flespi_device_trips_total counter\n",
		"flespi_device_trips_total{device_name=\"Truck \\\"7\\\"\",ident=\"a1\"} 1\n",
		"flespi_device_trips_total{ident=\"b2\"} 1\n",
		"# TYPE flespi_device_motion gauge\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b.String())
		}
	}
}

// TestUnreadableStateStartsAfresh: a state file of another version (or
// damaged) is kept aside and the events start afresh, rather than the
// exporter refusing to start.
func TestUnreadableStateStartsAfresh(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.state"), []byte("not gob"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, &recorder{got: map[string]fleet.Record{}})
	if _, err := os.Stat(filepath.Join(dir, "events.state.unreadable")); err != nil {
		t.Errorf("the unreadable state was not kept aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "events.state")); err != nil {
		t.Errorf("no fresh state: %v", err)
	}
}

// BenchmarkEventsPerMessage is the events output's own cost a message on
// flespi-bench's workload (ignition, positions, speed, mileage, a fuel
// level with a tank capacity), its stores left out: the pipeline with
// the output, less the pipeline without (BenchmarkPipelineAlone).
func BenchmarkEventsPerMessage(b *testing.B) { benchPipeline(b, true) }

// BenchmarkPipelineAlone is the pipeline without outputs, to subtract.
func BenchmarkPipelineAlone(b *testing.B) { benchPipeline(b, false) }

func benchPipeline(b *testing.B, withEvents bool) {
	w := workload.Generate(100_000, 1000, 500, 1)
	cfg := config.Default()
	cfg.Events.ReorderWindow = 0
	cfg.Events.TankCapacity = 400
	m, err := mapping.Compile(cfg.Mapping, nil)
	if err != nil {
		b.Fatal(err)
	}
	var outs []pipeline.Output
	if withEvents {
		rec := &recorder{got: map[string]fleet.Record{}}
		o, err := events.New(events.Options{Config: cfg.Events, Dir: b.TempDir(), Namespace: "flespi", Writers: []events.Writer{rec},
			Reg: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		outs = append(outs, o)
	}
	pipe := pipeline.Must(pipeline.New(m, outs, nil, slog.New(slog.DiscardHandler)))
	at := time.Now()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if k := i % len(w.Batches); k == 0 && i > 0 { // on in device time: nothing late
			b.StopTimer()
			w = w.Next()
			b.StartTimer()
		}
		body := w.Batches[i%len(w.Batches)]
		at = at.Add(time.Second)
		bt := pipe.Begin(pipeline.SourceHTTP, at)
		if err := bt.Add(body); err != nil {
			b.Fatal(err)
		}
		if _, err := bt.Store(context.Background()); err != nil {
			b.Fatal(err)
		}
		n += bt.Counts().Messages
		bt.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
}

// BenchmarkDeviceMemory is the heap a device costs the events output:
// the heap with the output less the heap without, after every device
// has reported 15 times, 10 s apart, arriving as made: its detector (a
// reorder window of 0s) and, with the default window of two minutes,
// the twelve messages it holds as well.
func BenchmarkDeviceMemory(b *testing.B) {
	for _, c := range []struct {
		name   string
		window time.Duration
	}{{"state", 0}, {"with 2m of 10s reports held", 2 * time.Minute}} {
		b.Run(c.name, func(b *testing.B) {
			const devices = 20_000
			bodies := reports(devices, 15)
			for range b.N {
				without := heapAfter(b, bodies, nil)
				with := heapAfter(b, bodies, func(cfg config.Events) pipeline.Output {
					cfg.ReorderWindow = config.Duration(c.window)
					cfg.TankCapacity = 400
					o, err := events.New(events.Options{Config: cfg, Dir: b.TempDir(), Namespace: "flespi",
						Reg: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					return o
				})
				b.ReportMetric(float64(with-without)/devices, "B/device")
			}
		})
	}
}

// reports are n bodies, each one report of every device, 10 s apart.
func reports(devices, n int) [][]byte {
	start := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	var out [][]byte
	for tick := range n {
		var b strings.Builder
		b.WriteByte('[')
		for d := range devices {
			if d > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"ident":"86352%010d","device.name":"truck-%d","timestamp":%d,"position.latitude":%.6f,"position.longitude":%.6f,`+
				`"position.speed":%d,"position.valid":true,"position.satellites":11,"engine.ignition.status":true,"can.fuel.level":%d,"vehicle.mileage":%.1f}`,
				d, d, start.Add(time.Duration(tick)*10*time.Second).Unix(), 52+float64(d)/float64(devices), 13+float64(tick)/1000, 40+tick, 60-tick/5, 1000+float64(tick)/10)
		}
		b.WriteByte(']')
		out = append(out, []byte(b.String()))
	}
	return out
}

// heapAfter is the live heap once bodies went through a pipeline with the
// output made by out (none when nil), which is kept alive until then.
func heapAfter(b *testing.B, bodies [][]byte, out func(config.Events) pipeline.Output) int64 {
	cfg := config.Default()
	cfg.Mapping.Tags = []string{"device.name"}
	m, err := mapping.Compile(cfg.Mapping, nil)
	if err != nil {
		b.Fatal(err)
	}
	var outs []pipeline.Output
	if out != nil {
		outs = append(outs, out(cfg.Events))
	}
	pipe := pipeline.Must(pipeline.New(m, outs, nil, slog.New(slog.DiscardHandler)))
	start := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	for tick, body := range bodies {
		bt := pipe.Begin(pipeline.SourceHTTP, start.Add(time.Duration(tick)*10*time.Second+time.Second))
		if err := bt.Add(body); err != nil {
			b.Fatal(err)
		}
		if _, err := bt.Store(context.Background()); err != nil {
			b.Fatal(err)
		}
		bt.Release()
	}
	n := heapInUse()
	runtime.KeepAlive(pipe)
	runtime.KeepAlive(outs)
	return n
}

// heapInUse is the live heap after a collection, bytes.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestHistoryHasItsOwnDetector: an import of ten days, of which the live
// stream has the last two: the eight days before make their events in
// the history store only, the live counters stay as they were, the live
// days make no history event (nothing counted twice), and the same
// import again stores nothing more.
func TestHistoryHasItsOwnDetector(t *testing.T) {
	live, past := &recorder{got: map[string]fleet.Record{}}, &recorder{got: map[string]fleet.Record{}}
	r := startWith(t, t.TempDir(), live, past)
	// Ten days in one scenario: each a working day, then parked until
	// the next morning (the stops between days are events too).
	var steps []fleettrace.Step
	for range 10 {
		steps = append(steps, fleettrace.WorkingDay()...)
		steps = append(steps, fleettrace.Step{Kind: fleettrace.Park, For: 24*time.Hour - 7*time.Hour - 12*time.Minute, Every: time.Hour})
	}
	all := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 900, Seed: 4}, day0, steps)
	liveFrom := day0.Add(8 * 24 * time.Hour)
	var liveDays []fleettrace.Delivery
	for _, d := range all.Deliveries {
		if !d.T.Before(liveFrom) {
			liveDays = append(liveDays, d)
		}
	}
	for _, b := range batches(liveDays, 10) { // live: the last two days
		if err := r.send(b); err != nil {
			t.Fatal(err)
		}
	}
	r.now = all.End.Add(time.Hour)
	r.out.Tick(context.Background())
	before := r.counters()
	if before["flespi_device_trips_total"] != 4 {
		t.Fatalf("live: %v, want 4 trips", before)
	}
	importAll := func() { // the whole ten days, the live ones too
		for _, b := range batches(all.Deliveries, 50) {
			if err := r.sendFrom(pipeline.SourceImport, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	importAll()
	want := 0
	for _, e := range all.Expected {
		// Those that end before the live days: the stop that the first
		// live trip closes is the live detector's to close, not history's.
		if e.End < liveFrom.UnixMilli() {
			want++
		}
	}
	if n := len(past.got); n != want {
		kinds := map[fleet.Kind]int{}
		for _, e := range past.got {
			kinds[e.Event.Kind]++
		}
		t.Errorf("history: %d events stored %v, want %d (the eight days before the live ones)", n, kinds, want)
	}
	for _, e := range past.got {
		if e.Event.Start >= liveFrom.UnixMilli() {
			t.Errorf("a history event of a live day: %+v", e.Event)
		}
	}
	if after := r.counters(); after["flespi_device_trips_total"] != before["flespi_device_trips_total"] || after["flespi_device_fuel_drained_liters_total"] != before["flespi_device_fuel_drained_liters_total"] {
		t.Errorf("the import moved the live counters: %v, were %v", after, before)
	}
	writes := past.writes
	importAll()
	if past.writes != writes {
		t.Errorf("the same import again stored %d more events", past.writes-writes)
	}
}

// TestTornJournal: a journal whose last record was cut (a power cut
// mid-write) restores what its whole records hold, and the batch of the
// cut one, sent again, makes the same counters as an uncut run.
func TestTornJournal(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{got: map[string]fleet.Record{}}
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "7", Lat: 50, Lon: 30, Fuel: 300, Seed: 8}, day0, tripsDay)
	bs := batches(day.Deliveries, 9)
	r := start(t, dir, rec)
	cut := len(bs) * 2 / 3
	for _, b := range bs[:cut] {
		if err := r.send(b); err != nil {
			t.Fatal(err)
		}
	}
	journal := filepath.Join(dir, "events.journal")
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journal, data[:len(data)-7], 0o644); err != nil { // the last record torn
		t.Fatal(err)
	}
	r = start(t, dir, rec)
	for _, b := range bs[cut-1:] { // the torn record's batch again, then the rest
		if err := r.send(b); err != nil {
			t.Fatal(err)
		}
	}
	r.now = day.End.Add(time.Hour)
	r.out.Tick(context.Background())
	var want fleet.Totals
	for i := range day.Expected {
		want.Add(&day.Expected[i])
	}
	if c := r.counters(); c["flespi_device_trips_total"] != float64(want.Trips) || c["flespi_device_overspeeds_total"] != float64(want.Overspeeds) {
		t.Errorf("after a torn journal: %v, want %+v", c, want)
	}
}

// TestBacklogAfterOutage: the exporter was down for a day; flespi then
// delivers the day within a minute. The events are stored as the
// backlog comes, by the clock flespi received it on (its
// server.timestamp), not held until the exporter's clock has run the
// reorder window; a restart in the middle goes on from the journal the
// same way, and the hour the truck was out of coverage (received at once
// when it was back, delivered newest first) is still put in order.
func TestBacklogAfterOutage(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{got: map[string]fleet.Record{}}
	steps := append(append([]fleettrace.Step(nil), tripsDay...),
		fleettrace.Step{Kind: fleettrace.Drive, For: time.Hour, Every: 30 * time.Second, Speed: 70, Heading: 10, Burn: 30, Offline: true},
		fleettrace.Step{Kind: fleettrace.Park, For: 2 * time.Hour, Every: time.Hour})
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 300, Seed: 11}, day0, steps)
	back := day.End.Add(24 * time.Hour)
	for i := range day.Deliveries {
		day.Deliveries[i].Arrival = back.Add(time.Duration(i) * time.Millisecond)
	}
	r := start(t, dir, rec)
	bs := batches(day.Deliveries, 50)
	for i, b := range bs {
		if err := r.send(b); err != nil {
			t.Fatal(err)
		}
		if i == len(bs)/2 {
			r = start(t, dir, rec) // from its files
		}
	}
	var want int
	for _, e := range day.Expected {
		if e.End < day.End.Add(-30*time.Minute).UnixMilli() {
			want++
		}
	}
	if len(rec.got) < want {
		t.Errorf("%d events stored while the backlog came, want the %d that ended before its last half hour", len(rec.got), want)
	}
	r.now = back.Add(time.Hour)
	r.out.Tick(context.Background())
	if len(rec.got) != len(day.Expected) {
		t.Errorf("%d events, want %d", len(rec.got), len(day.Expected))
	}
	if late := r.counters()["flespi_exporter_event_late_messages_total"]; late != 0 {
		t.Errorf("%v messages late", late)
	}
}
