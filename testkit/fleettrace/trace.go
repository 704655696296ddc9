// Package fleettrace writes days of a vehicle's flespi messages from a
// scenario (drive, park, idle, refuel, drain) with stated noise: fuel
// sloshing, GNSS spikes, ignition flaps, hourly parked reports, an hour
// out of coverage delivered late and newest first. The events a day must
// make are computed from the scenario itself (a drive of 20 minutes at
// 60 km/h is a trip of 20 km), never by running the detector, so that a
// test of the detector compares it with what happened.
package fleettrace

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
)

// Vehicle is the state a scenario starts from.
type Vehicle struct {
	Ident    string
	Name     string
	Lat, Lon float64
	Fuel     float64 // litres
	// Tank > 0 sends fuel.level, the percentage of this capacity, instead
	// of fuel.volume in litres.
	Tank float64
	Seed uint64
}

// Step is one part of a day.
type Step struct {
	Kind    StepKind
	For     time.Duration
	Every   time.Duration // reporting period
	Speed   float64       // km/h (Drive)
	Heading float64       // degrees (Drive)
	Burn    float64       // litres per 100 km (Drive), per hour (Idle)
	Litres  float64       // Refuel, Drain: the amount, over the step
	// Noise of a parked step: GNSS spikes (a position 800 m off with a
	// speed, one message each), ignition flaps (on for one message).
	Spikes, Flaps int
	// Overspeed, in a drive: Speed for the first Over of it, then Cruise.
	Cruise float64
	Over   time.Duration
	// Blips in a drive: this many single messages above the speed limit.
	Blips int
	// FuelNoise is the fuel sensor's noise, ± litres (default: 3 while
	// driving, sloshing; 1 standing).
	FuelNoise float64
	// Offline: the step's messages are delivered when it ends, newest
	// first (out of coverage, the device buffers).
	Offline bool
}

// StepKind is what the vehicle does in a step.
type StepKind uint8

// The steps.
const (
	Park   StepKind = iota // ignition off, standing
	Drive                  // ignition on, moving in a straight line
	Idle                   // ignition on, standing
	Refuel                 // ignition off, standing, fuel rising
	Drain                  // ignition off, standing, fuel falling
)

// Delivery is a message as flespi delivers it: its JSON and when.
type Delivery struct {
	Arrival time.Time
	JSON    []byte
	T       time.Time // the message's device time
}

// Day is a scenario's messages, in delivery order, and its events.
type Day struct {
	Deliveries []Delivery
	Expected   []fleet.Event
	End        time.Time
}

// Settings the expected events assume: the detector's defaults.
var Settings = fleet.Default()

// Generate writes the day of v from start through steps.
func Generate(v Vehicle, start time.Time, steps []Step) Day {
	g := &gen{v: v, t: start, rnd: rand.New(rand.NewPCG(v.Seed, 7)), fuel: v.Fuel}
	for i, s := range steps {
		g.step(i, s, steps)
	}
	g.emit(g.t, 0, false, 0) // the last message: standing where the day ends
	g.closeEvents(steps)
	slices.SortStableFunc(g.out, func(a, b Delivery) int { return a.Arrival.Compare(b.Arrival) })
	return Day{Deliveries: g.out, Expected: g.expected, End: g.t}
}

type gen struct {
	v        Vehicle
	t        time.Time
	rnd      *rand.Rand
	fuel     float64
	lat, lon float64
	ign      bool
	out      []Delivery
	offline  []Delivery
	expected []fleet.Event

	tripStart  time.Time // zero: no trip going on
	tripDist   float64
	tripFuel   float64
	tripMax    float64
	lastTrip   time.Time // the end of the last trip (a stop follows)
	haveTrip   bool
	tripStartL [2]float64
}

func (g *gen) step(i int, s Step, steps []Step) {
	if i == 0 {
		g.lat, g.lon = g.v.Lat, g.v.Lon
	}
	end := g.t.Add(s.For)
	switch s.Kind {
	case Drive:
		g.drive(s, end)
	default:
		g.stand(s, end)
	}
	if s.Offline {
		for j := len(g.offline) - 1; j >= 0; j-- { // newest first
			d := g.offline[j]
			// after the first message back in coverage (end + 1 s)
			d.Arrival = end.Add(2*time.Second + time.Duration(len(g.offline)-j)*100*time.Millisecond)
			d.JSON = receivedAt(d.JSON, d.Arrival.Add(-time.Second))
			g.out = append(g.out, d)
		}
		g.offline = nil
	}
	g.t = end
}

func (g *gen) drive(s Step, end time.Time) {
	if g.tripStart.IsZero() {
		g.tripStart, g.tripDist, g.tripMax = g.t, 0, 0
		g.tripFuel = g.fuel
		g.tripStartL = [2]float64{g.lat, g.lon}
		if g.haveTrip {
			g.event(fleet.Stop, g.lastTrip, g.t, nil)
		}
	}
	g.ign = true
	start := g.t
	blipEvery := time.Duration(0)
	if s.Blips > 0 {
		blipEvery = s.For / time.Duration(s.Blips+1)
	}
	nextBlip := start.Add(blipEvery)
	for t := start; t.Before(end); t = t.Add(s.Every) {
		speed := s.Speed
		if s.Over > 0 && t.Sub(start) >= s.Over {
			speed = s.Cruise
		}
		blip := false
		if blipEvery > 0 && !t.Before(nextBlip) {
			blip, nextBlip = true, nextBlip.Add(blipEvery)
		}
		shown := speed
		if blip {
			shown = Settings.SpeedLimit + 15
		}
		g.tripMax = max(g.tripMax, shown)
		g.emit(t, shown, s.Offline, noise(s.FuelNoise, 3))
		// move on to the next message: at speed for Every
		dt := min(s.Every, end.Sub(t))
		d := speed / 3.6 * dt.Seconds()
		g.lat, g.lon = destination(g.lat, g.lon, s.Heading, d)
		g.tripDist += d
		g.fuel -= s.Burn / 100 * d / 1000
	}
	if s.Over >= 30*time.Second && s.Speed > Settings.SpeedLimit {
		// above the limit from the drive's start to its last message above
		last := start
		for t := start; t.Before(end) && t.Sub(start) < s.Over; t = t.Add(s.Every) {
			last = t
		}
		g.event(fleet.Overspeed, start, last, func(e *fleet.Event) { e.MaxSpeed = s.Speed })
	}
}

func (g *gen) stand(s Step, end time.Time) {
	g.ign = s.Kind == Idle
	stops := s.For >= Settings.StopMinDuration || (!g.ign && s.For >= Settings.IgnitionOffMin)
	if !g.tripStart.IsZero() && stops {
		g.closeTrip(g.t, s)
	}
	start := g.t
	n := int(s.For / s.Every)
	spikeAt := spread(s.Spikes, n, g.rnd)
	flapAt := spread(s.Flaps, n, g.rnd)
	before := g.fuel
	i := 0
	for t := start; t.Before(end); t, i = t.Add(s.Every), i+1 {
		frac := float64(t.Sub(start)) / float64(s.For)
		switch s.Kind {
		case Refuel:
			g.fuel = before + s.Litres*min(1, frac*2) // done in the first half
		case Drain:
			g.fuel = before - s.Litres*min(1, frac*2)
		case Idle:
			g.fuel = before - s.Burn*t.Sub(start).Hours()
		}
		switch {
		case spikeAt[i]:
			lat, lon := destination(g.lat, g.lon, 45, 800)
			g.emitAt(t, 35, lat, lon, g.ign, s.Offline, noise(s.FuelNoise, 1))
		case flapAt[i]:
			g.emitAt(t, 0, g.lat, g.lon, true, s.Offline, noise(s.FuelNoise, 1))
			g.emitAt(t.Add(20*time.Second), 0, g.lat, g.lon, false, s.Offline, noise(s.FuelNoise, 1))
		default:
			g.emit(t, 0, s.Offline, noise(s.FuelNoise, 1))
		}
	}
	switch s.Kind {
	case Refuel:
		g.fuel = before + s.Litres
		g.event(fleet.Refuel, start, start.Add(s.For/2), func(e *fleet.Event) { e.FuelL = s.Litres })
	case Drain:
		g.fuel = before - s.Litres
		g.event(fleet.Drain, start, start.Add(s.For/2), func(e *fleet.Event) { e.FuelL = s.Litres })
	case Idle:
		g.fuel = before - s.Burn*s.For.Hours()
		if s.For >= Settings.IdleMin {
			g.event(fleet.Idle, start, end, nil)
		}
	}
}

// closeTrip ends the trip going on at t, where the vehicle stands.
func (g *gen) closeTrip(t time.Time, s Step) {
	start, dist, used, mx := g.tripStart, g.tripDist, g.tripFuel-g.fuel, g.tripMax
	g.event(fleet.Trip, start, t, func(e *fleet.Event) { e.DistanceM, e.FuelL, e.MaxSpeed = dist, used, mx })
	g.tripStart = time.Time{}
	g.lastTrip, g.haveTrip = t, true
}

func (g *gen) closeEvents(steps []Step) {
	if !g.tripStart.IsZero() {
		g.closeTrip(g.t, Step{})
	}
}

func (g *gen) event(k fleet.Kind, start, end time.Time, set func(*fleet.Event)) {
	e := fleet.Event{Kind: k, Start: start.UnixMilli(), End: end.UnixMilli(), DistanceM: math.NaN(), FuelL: math.NaN(), MaxSpeed: math.NaN()}
	if set != nil {
		set(&e)
	}
	g.expected = append(g.expected, e)
}

// spread marks k of n messages, apart from the first and last two.
func spread(k, n int, rnd *rand.Rand) []bool {
	at := make([]bool, n+1)
	for j := 0; j < k && n > 4; j++ {
		at[2+rnd.IntN(n-4)] = true
	}
	return at
}

func (g *gen) emit(t time.Time, speed float64, offline bool, slosh float64) {
	g.emitAt(t, speed, g.lat, g.lon, g.ign, offline, slosh)
}

// emitAt writes one message; slosh is the fuel sensor's noise, litres.
func (g *gen) emitAt(t time.Time, speed, lat, lon float64, ign, offline bool, slosh float64) {
	jlat, jlon := destination(lat, lon, g.rnd.Float64()*360, g.rnd.Float64()*2) // 2 m of GNSS noise
	m := map[string]any{
		"ident": g.v.Ident, "timestamp": float64(t.UnixMilli()) / 1000,
		"server.timestamp":  float64(t.Add(time.Second).UnixMilli()) / 1000,
		"position.latitude": round6(jlat), "position.longitude": round6(jlon),
		"position.speed": speed, "position.valid": true, "position.satellites": 9 + g.rnd.IntN(6),
		"engine.ignition.status": ign, "movement.status": speed > 0,
	}
	if g.v.Name != "" {
		m["device.name"] = g.v.Name
	}
	fuel := g.fuel + (g.rnd.Float64()*2-1)*slosh
	if g.v.Tank > 0 {
		m["fuel.level"] = math.Round(fuel/g.v.Tank*1000) / 10
	} else {
		m["fuel.volume"] = math.Round(fuel*10) / 10
	}
	body, _ := json.Marshal(m)
	d := Delivery{Arrival: t.Add(time.Second), JSON: body, T: t}
	if offline {
		g.offline = append(g.offline, d)
		return
	}
	g.out = append(g.out, d)
}

// receivedAt sets the server.timestamp of a message's JSON: a device's
// buffered messages reach flespi when it is back in coverage.
func receivedAt(body []byte, at time.Time) []byte {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		panic(err)
	}
	m["server.timestamp"] = float64(at.UnixMilli()) / 1000
	out, _ := json.Marshal(m)
	return out
}

func noise(set, def float64) float64 {
	if set > 0 {
		return set
	}
	return def
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// destination is the position d metres from lat, lon at bearing deg, on
// a great circle: a straight drive's chords add up to its length.
func destination(lat, lon, deg, d float64) (float64, float64) {
	const r = 6371008.8
	φ1, λ1, θ := lat*math.Pi/180, lon*math.Pi/180, deg*math.Pi/180
	δ := d / r
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	return φ2 * 180 / math.Pi, λ2 * 180 / math.Pi
}

// Body joins deliveries into one flespi HTTP stream body.
func Body(ds []Delivery) []byte {
	b := []byte{'['}
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.JSON...)
	}
	return append(b, ']')
}

// WorkingDay is a day of a truck the tests share: parked overnight
// (hourly reports), a 20 km trip, seven minutes idling, a trip that
// starts above the speed limit for two minutes, an hour parked, 25 L
// drained while parked, three hours parked.
func WorkingDay() []Step {
	return []Step{
		{Kind: Park, For: 2 * time.Hour, Every: time.Hour},
		{Kind: Drive, For: 20 * time.Minute, Every: 30 * time.Second, Speed: 60, Heading: 30, Burn: 30},
		{Kind: Idle, For: 7 * time.Minute, Every: 30 * time.Second, Burn: 2},
		{Kind: Drive, For: 15 * time.Minute, Every: 30 * time.Second, Speed: 120, Cruise: 80, Over: 2 * time.Minute, Heading: 120, Burn: 30},
		{Kind: Park, For: time.Hour, Every: 10 * time.Minute},
		{Kind: Drain, For: 30 * time.Minute, Every: 5 * time.Minute, Litres: 25},
		{Kind: Park, For: 3 * time.Hour, Every: 30 * time.Minute},
	}
}
