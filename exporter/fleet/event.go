package fleet

import (
	"math"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Kind is what an event is.
type Kind uint8

// The kinds of events.
const (
	Trip Kind = iota + 1
	Stop
	Idle
	Refuel
	Drain
	Overspeed
)

var kindNames = [...]string{Trip: "trip", Stop: "stop", Idle: "idle", Refuel: "refuel", Drain: "drain", Overspeed: "overspeed"}

// Kinds are the kinds, in order.
var Kinds = []Kind{Trip, Stop, Idle, Refuel, Drain, Overspeed}

// String is the kind's name, the event tag in InfluxDB.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one closed event of a device. Times are Unix milliseconds of
// the device's clock; a value that does not apply is NaN.
type Event struct {
	Kind       Kind
	Start, End int64
	DistanceM  float64 // trips
	FuelL      float64 // trips (used: level at start - at end), refuels, drains (the amount)
	MaxSpeed   float64 // trips, overspeeds (km/h)
	StartLat   float64 // where it began and ended, where known
	StartLon   float64
	EndLat     float64
	EndLon     float64
	// At is when the device's counters count it: its end, or the end of
	// an event the device closed before it where later (an idle can
	// close after a trip that ended later), so that a counter's samples
	// in time order never go back.
	At int64
}

// Duration is the event's length in seconds.
func (e *Event) Duration() float64 { return float64(e.End-e.Start) / 1000 }

// newEvent is an event of kind from start to end with nothing else known.
func newEvent(k Kind, start, end int64) Event {
	nan := math.NaN()
	return Event{Kind: k, Start: start, End: end, DistanceM: nan, FuelL: nan, MaxSpeed: nan, StartLat: nan, StartLon: nan, EndLat: nan, EndLon: nan}
}

// Totals are a device's counters, grown as its events close: they never
// go back.
type Totals struct {
	DistanceM  float64 `json:"distance_m"`
	IdleS      float64 `json:"idle_s"`
	RefilledL  float64 `json:"refilled_l"`
	DrainedL   float64 `json:"drained_l"`
	Trips      uint32  `json:"trips"`
	Overspeeds uint32  `json:"overspeeds"`
}

// add counts a closed event.
func (t *Totals) add(e *Event) {
	switch e.Kind {
	case Trip:
		t.Trips++
		if !math.IsNaN(e.DistanceM) {
			t.DistanceM += e.DistanceM
		}
	case Idle:
		t.IdleS += e.Duration()
	case Refuel:
		t.RefilledL += e.FuelL
	case Drain:
		t.DrainedL += e.FuelL
	case Overspeed:
		t.Overspeeds++
	}
}

// Motion is the state of a vehicle now.
type Motion uint8

// The motions, as flespi_device_motion says them.
const (
	Parked Motion = iota
	Moving
	Idling
)

// String is the motion's name on the status page.
func (m Motion) String() string {
	switch m {
	case Moving:
		return "moving"
	case Idling:
		return "idling"
	}
	return "parked"
}

// Add counts a closed event (Device.Pass does for its own Totals).
func (t *Totals) Add(e *Event) { t.add(e) }

// Record is a closed event of a device, as the outputs store it: the
// device's tags (ident and [mapping].tags), and its counters once the
// event is counted.
type Record struct {
	Ident  string
	Tags   []mapping.Tag // sorted by key, ident among them
	Event  Event
	Totals Totals
}

// Counter is one of a device's event counters as Prometheus sees it.
type Counter struct {
	Suffix string // the name after "<namespace>_device_"
	Help   string
	Value  func(*Totals) float64
}

// Counters are the device counters the events grow.
var Counters = []Counter{
	{"trips_total", "Trips the device made (fleet events: a trip ends at a stop of [events] stop_min_duration or ignition off for ignition_off_min).", func(t *Totals) float64 { return float64(t.Trips) }},
	{"distance_meters_total", "Metres the device's trips covered: GNSS distance without spikes and jumps, or its mileage counter where that agrees.", func(t *Totals) float64 { return t.DistanceM }},
	{"idle_seconds_total", "Seconds the device idled: ignition on and not moving for at least [events] idle_min.", func(t *Totals) float64 { return t.IdleS }},
	{"fuel_refilled_liters_total", "Litres refuelled: rises of at least [events] refuel_min that held over fuel_window.", func(t *Totals) float64 { return t.RefilledL }},
	{"fuel_drained_liters_total", "Litres drained while parked (possible theft): falls of at least [events] drain_min that held over fuel_window.", func(t *Totals) float64 { return t.DrainedL }},
	{"overspeeds_total", "Episodes above the device's [events] speed_limit for at least overspeed_min.", func(t *Totals) float64 { return float64(t.Overspeeds) }},
}
