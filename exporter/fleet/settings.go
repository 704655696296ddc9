// Package fleet detects what fleet operators ask of a tracker's messages:
// trips and the stops between them, idling, overspeed, refuels and fuel
// drains, each at the device's own time, from one device's messages in
// device-time order. It knows nothing of the pipeline, InfluxDB or
// Prometheus: the events output (exporter/output/events) feeds it, holds
// a device's messages briefly to put them in order (Queue), stores what it
// closes and persists its state.
//
// The definitions follow the established tools (Traccar's trip detector,
// Wialon's fuel settings, flespi's calculators); docs/events.md gives
// each with its source.
package fleet

import "time"

// Settings are the thresholds of one device ([events] and its
// [[events.device]] entries).
type Settings struct {
	MovingSpeed     float64       // km/h above which a valid fix is moving
	MinSatellites   int           // a fix with fewer satellites is not valid
	TripMinDuration time.Duration // moved this long, or
	TripMinDistance float64       // this far (m): a trip
	StopMinDuration time.Duration // standing this long ends a trip
	IgnitionOffMin  time.Duration // ignition off this long ends a trip
	MaxGap          time.Duration // no message this long ends a trip at its last message
	IdleMin         time.Duration // ignition on and not moving this long: idling
	SpeedLimit      float64       // km/h; 0: no overspeed events
	OverspeedMin    time.Duration // above the limit this long (and two messages)
	MaxSpeed        float64       // km/h a jump between positions may imply
	TankCapacity    float64       // litres; 0: fuel.level percentages make no fuel events
	RefuelMin       float64       // litres, or
	RefuelMinPct    float64       // percent of the tank, whichever is larger
	DrainMin        float64       // litres, or
	DrainMinPct     float64       // percent of the tank, whichever is larger
	FuelWindow      time.Duration // the least time a fuel change is judged over
}

// Default are the defaults: flespi's standard parameters and the
// established tools' usual thresholds.
func Default() Settings {
	return Settings{
		MovingSpeed:     5,
		MinSatellites:   4,
		TripMinDuration: 5 * time.Minute,
		TripMinDistance: 500,
		StopMinDuration: 5 * time.Minute,
		IgnitionOffMin:  time.Minute,
		MaxGap:          time.Hour,
		IdleMin:         3 * time.Minute,
		SpeedLimit:      110,
		OverspeedMin:    30 * time.Second,
		MaxSpeed:        300,
		RefuelMin:       10,
		RefuelMinPct:    5,
		DrainMin:        8,
		DrainMinPct:     4,
		FuelWindow:      30 * time.Minute,
	}
}

// refuelMin is the least rise, in litres, that is a refuel.
func (s *Settings) refuelMin() float64 { return max(s.RefuelMin, s.RefuelMinPct/100*s.TankCapacity) }

// drainMin is the least fall, in litres, that is a drain.
func (s *Settings) drainMin() float64 { return max(s.DrainMin, s.DrainMinPct/100*s.TankCapacity) }
