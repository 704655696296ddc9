package fleet_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/message"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
)

var day0 = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)

const (
	min30s = 30 * time.Second
	hour   = time.Hour
)

func truck(seed uint64) fleettrace.Vehicle {
	return fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 300, Seed: seed}
}

// golden are the golden days: each a scenario, and how far apart in time
// an event may be from the scenario's (the reporting period around it).
var golden = []struct {
	name  string
	v     fleettrace.Vehicle
	st    func(*fleet.Settings)
	steps []fleettrace.Step
	tol   time.Duration
}{
	{"trips with stops and idling", truck(1), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: 2 * hour, Every: hour},
		{Kind: fleettrace.Drive, For: 20 * time.Minute, Every: min30s, Speed: 60, Heading: 30, Burn: 30},
		{Kind: fleettrace.Idle, For: 7 * time.Minute, Every: min30s, Burn: 2},
		{Kind: fleettrace.Drive, For: 15 * time.Minute, Every: min30s, Speed: 50, Heading: 120, Burn: 30},
		{Kind: fleettrace.Park, For: 40 * time.Minute, Every: 10 * time.Minute},
		{Kind: fleettrace.Drive, For: 45 * time.Minute, Every: min30s, Speed: 80, Heading: 250, Burn: 30},
		{Kind: fleettrace.Park, For: 3 * hour, Every: hour},
	}, min30s},
	{"noisy parked day", truck(2), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: 24 * hour, Every: hour, Spikes: 3, Flaps: 3, FuelNoise: 3},
	}, hour},
	{"trip cut by an hour out of coverage, delivered late newest first", truck(3), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: hour, Every: 15 * time.Minute},
		{Kind: fleettrace.Drive, For: 30 * time.Minute, Every: min30s, Speed: 70, Heading: 10, Burn: 30},
		{Kind: fleettrace.Drive, For: hour, Every: min30s, Speed: 70, Heading: 10, Burn: 30, Offline: true},
		{Kind: fleettrace.Drive, For: 20 * time.Minute, Every: min30s, Speed: 70, Heading: 10, Burn: 30},
		{Kind: fleettrace.Park, For: 2 * hour, Every: hour},
	}, min30s},
	{"refuel with a noisy sensor reported hourly", truck(4), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: 4 * hour, Every: hour, FuelNoise: 3},
		{Kind: fleettrace.Refuel, For: hour, Every: hour, Litres: 150, FuelNoise: 3},
		{Kind: fleettrace.Park, For: 6 * hour, Every: hour, FuelNoise: 3},
	}, hour},
	{"slow drain", truck(5), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: 2 * hour, Every: 5 * time.Minute},
		{Kind: fleettrace.Drain, For: 50 * time.Minute, Every: 5 * time.Minute, Litres: 20},
		{Kind: fleettrace.Park, For: 3 * hour, Every: 5 * time.Minute},
	}, 10 * time.Minute},
	{"overspeed blips shorter than the minimum", truck(6), nil, []fleettrace.Step{
		{Kind: fleettrace.Park, For: hour, Every: 15 * time.Minute},
		{Kind: fleettrace.Drive, For: 30 * time.Minute, Every: 10 * time.Second, Speed: 90, Heading: 70, Burn: 30, Blips: 4},
		{Kind: fleettrace.Drive, For: 10 * time.Minute, Every: 10 * time.Second, Speed: 130, Cruise: 90, Over: 2 * time.Minute, Heading: 70, Burn: 30},
		{Kind: fleettrace.Park, For: hour, Every: 15 * time.Minute},
	}, 10 * time.Second},
	{"percentage sensor with a tank capacity", fleettrace.Vehicle{Ident: "862001", Lat: 50.45, Lon: 30.52, Fuel: 100, Tank: 400, Seed: 7},
		func(s *fleet.Settings) { s.TankCapacity = 400 }, []fleettrace.Step{
			{Kind: fleettrace.Park, For: 2 * hour, Every: 10 * time.Minute},
			{Kind: fleettrace.Refuel, For: 20 * time.Minute, Every: 2 * time.Minute, Litres: 120},
			{Kind: fleettrace.Park, For: 2 * hour, Every: 10 * time.Minute},
			{Kind: fleettrace.Drain, For: 20 * time.Minute, Every: 2 * time.Minute, Litres: 40},
			{Kind: fleettrace.Park, For: 2 * hour, Every: 10 * time.Minute},
		}, 10 * time.Minute},
}

// detect runs a day through a queue and a detector as the events output
// does: each message held for the reorder window, by its arrival and by
// when flespi received it. No message may come too late.
func detect(t *testing.T, day fleettrace.Day, st fleet.Settings) []fleet.Event {
	t.Helper()
	var q fleet.Queue
	var d fleet.Device
	var out []fleet.Event
	dec := message.NewDecoder()
	var reader fleet.Reader
	window := (2 * time.Minute).Milliseconds()
	pass := func(s fleet.Sample) { out = d.Pass(s, &st, out) }
	lates := 0
	for _, del := range day.Deliveries {
		err := dec.Decode(del.JSON, func(m *message.Message) error {
			at, ok := message.ParseTime(m.Get("timestamp").Raw)
			if !ok {
				return fmt.Errorf("no timestamp")
			}
			s, _ := reader.Read(m, at.UnixMilli())
			if late, _ := q.Add(s, del.Arrival.UnixMilli()); late {
				lates++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		q.Release(del.Arrival.UnixMilli(), window, pass)
	}
	q.Release(0, -1, pass)
	if lates > 0 {
		t.Errorf("%d messages came too late for the reorder window", lates)
	}
	out = d.Flush(&st, out)
	var tot fleet.Totals
	for i := range out {
		tot.Add(&out[i])
	}
	if tot != d.Totals {
		t.Errorf("the counters %+v are not the sum of the events %+v", d.Totals, tot)
	}
	return out
}

func TestGoldenDays(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			day := fleettrace.Generate(g.v, day0, g.steps)
			st := fleet.Default()
			if g.st != nil {
				g.st(&st)
			}
			got := detect(t, day, st)
			compare(t, day.Expected, got, g.tol)
		})
	}
}

func compare(t *testing.T, want, got []fleet.Event, tol time.Duration) {
	t.Helper()
	byKind := func(es []fleet.Event, k fleet.Kind) []fleet.Event {
		var out []fleet.Event
		for _, e := range es {
			if e.Kind == k {
				out = append(out, e)
			}
		}
		return out
	}
	for _, k := range fleet.Kinds {
		w, g := byKind(want, k), byKind(got, k)
		if len(w) != len(g) {
			t.Errorf("%s: want %d events, got %d:\nwant %s\ngot  %s", k, len(w), len(g), list(w), list(g))
			continue
		}
		for i := range w {
			we, ge := w[i], g[i]
			if d := time.Duration(abs(ge.Start-we.Start)) * time.Millisecond; d > tol {
				t.Errorf("%s %d: starts at %s, want %s", k, i, ms(ge.Start), ms(we.Start))
			}
			if d := time.Duration(abs(ge.End-we.End)) * time.Millisecond; d > tol {
				t.Errorf("%s %d: ends at %s, want %s", k, i, ms(ge.End), ms(we.End))
			}
			if !math.IsNaN(we.DistanceM) && math.Abs(ge.DistanceM-we.DistanceM) > 0.02*we.DistanceM {
				t.Errorf("%s %d: %.0f m, want %.0f m (within 2 %%)", k, i, ge.DistanceM, we.DistanceM)
			}
			if !math.IsNaN(we.FuelL) && !(math.Abs(ge.FuelL-we.FuelL) <= 4) {
				t.Errorf("%s %d: %.1f L, want %.1f L (within 4 L)", k, i, ge.FuelL, we.FuelL)
			}
			if k == fleet.Overspeed && ge.MaxSpeed != we.MaxSpeed {
				t.Errorf("%s %d: max %.0f km/h, want %.0f", k, i, ge.MaxSpeed, we.MaxSpeed)
			}
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func ms(v int64) string { return time.UnixMilli(v).UTC().Format("15:04:05") }

func list(es []fleet.Event) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "[%s-%s %.0fm %.1fL] ", ms(e.Start), ms(e.End), e.DistanceM, e.FuelL)
	}
	return b.String()
}

// TestGoldenDaysHaveEvents: the scenarios make the events they are
// about (a golden day without them would prove nothing).
func TestGoldenDaysHaveEvents(t *testing.T) {
	want := []string{"trip:3 stop:2 idle:1", "", "trip:1", "refuel:1", "drain:1", "trip:1 overspeed:1", "refuel:1 drain:1"}
	for i, g := range golden {
		day := fleettrace.Generate(g.v, day0, g.steps)
		n := map[fleet.Kind]int{}
		for _, e := range day.Expected {
			n[e.Kind]++
		}
		var got []string
		for _, k := range fleet.Kinds {
			if n[k] > 0 {
				got = append(got, fmt.Sprintf("%s:%d", k, n[k]))
			}
		}
		if strings.Join(got, " ") != want[i] {
			t.Errorf("%s: the scenario makes %q, want %q", g.name, strings.Join(got, " "), want[i])
		}
	}
}

// TestLateBufferWithoutReordering: the hour delivered late and newest
// first is what the reorder window is for; without it the trip breaks
// and the late messages make nothing.
func TestLateBufferWithoutReordering(t *testing.T) {
	g := golden[2]
	day := fleettrace.Generate(g.v, day0, g.steps)
	var q fleet.Queue
	var d fleet.Device
	var out []fleet.Event
	st := fleet.Default()
	dec := message.NewDecoder()
	var reader fleet.Reader
	late := 0
	for _, del := range day.Deliveries {
		_ = dec.Decode(del.JSON, func(m *message.Message) error {
			at, _ := message.ParseTime(m.Get("timestamp").Raw)
			s, _ := reader.Read(m, at.UnixMilli())
			if l, _ := q.Add(s, del.Arrival.UnixMilli()); l {
				late++
			}
			return nil
		})
		q.Release(del.Arrival.UnixMilli(), 0, func(s fleet.Sample) { out = d.Pass(s, &st, out) })
	}
	trips := 0
	for _, e := range d.Flush(&st, out) {
		if e.Kind == fleet.Trip {
			trips++
		}
	}
	if late < 100 || trips != 2 {
		t.Errorf("without a reorder window: %d late messages, %d trips; want the buffered hour late and the trip cut in two", late, trips)
	}
}
