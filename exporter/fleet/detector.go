package fleet

import "math"

// Device is one device's detector: what its messages, passed in device
// time order, have built so far. Its exported fields are its state, which
// the events output persists (gob) and restores.
type Device struct {
	Totals   Totals
	At       int64  // the newest Event.At
	Drained  int64  // when the newest drain began (0: none)
	First    int64  // device time of the first message passed
	Last     Sample // the newest message passed
	RunStart Sample // the first of the moving messages in a row
	Trip     TripState
	Stand    Mark // the first standing message of a standstill in a trip
	IgnOff   Mark // the first message of ignition off in a trip
	StopFrom Spot // where the stop since the last trip began
	Idle     Spot // ignition on and not moving since
	Over     Over
	Pos      Position
	Fuel     Fuel
	N        uint32 // messages passed (it stops at its maximum)
	Run      uint8  // moving messages in a row (at most 2: two are movement)
	LastKind Kind   // of the newest event closed (its time: At)
}

// Spot is a message a state began at, and where.
type Spot struct {
	T        int64   // 0: none (Set)
	Lat, Lon float32 // NaN: no valid position
}

// Set reports whether the spot is set.
func (p *Spot) Set() bool { return p.T != 0 }

// TripState is a trip going on, or a candidate for one (not Confirmed yet:
// it has not moved long or far enough).
type TripState struct {
	Start         Mark
	Dist          float64 // GNSS metres so far
	MileageLast   float64 // the newest vehicle.mileage, km (NaN: none)
	MaxSpeed      float32
	On, Confirmed bool
	MileageBad    bool // the mileage counter went back: not a distance
}

// Mark is a message a state began at, and what the trip had then: the
// trip ends at such a message, with what it had there.
type Mark struct {
	T        int64   // 0: none (Set)
	Mileage  float64 // the newest vehicle.mileage, km (NaN: none)
	Lat, Lon float32 // NaN: no valid position
	Fuel     float32 // the smoothed fuel level, litres (NaN: none)
	Dist     float32 // the trip's metres (within a metre to 16,000 km)
}

// Set reports whether the mark is set: a message's time is never 0.
func (m *Mark) Set() bool { return m.T != 0 }

// Over is an episode above the speed limit.
type Over struct {
	Start, Last int64 // Start 0: none
	N           uint32
	Max         float32
	Lat, Lon    float32
}

// Pass takes the device's next message in device-time order and appends
// the events it closes to out.
func (d *Device) Pass(s Sample, st *Settings, out []Event) []Event {
	if d.N > 0 && s.T-d.Last.T > st.MaxGap.Milliseconds() {
		out = d.gap(st, out)
	}
	if d.N == 0 {
		d.First = s.T
	}
	d.N = max(d.N, d.N+1)
	fix := s.validFix(st)
	speedKnown := !math.IsNaN(float64(s.Speed))
	cand := fix && speedKnown && float64(s.Speed) > st.MovingSpeed
	standing := speedKnown && float64(s.Speed) <= st.MovingSpeed
	step := d.Pos.step(&s, st)
	var fuel []Event
	d.Fuel.pass(&s, st, d.parked(&s, cand), &fuel)
	for _, e := range fuel {
		out = d.emit(e, out)
	}

	prevRun := d.Run
	switch {
	case cand:
		if d.Run == 0 {
			d.RunStart = s
		}
		d.Run = min(d.Run+1, 2)
	case standing:
		d.Run = 0
	}
	moving := d.Run >= 2
	startedMoving := moving && prevRun == 1

	out = d.idle(&s, cand, moving, st, out)
	out = d.overspeed(&s, fix, speedKnown, st, out)
	out = d.trip(&s, step, standing, moving, startedMoving, st, out)
	d.Last = s
	return out
}

// Motion is the vehicle's state after the newest message.
func (d *Device) Motion() Motion {
	switch {
	case d.Run >= 2:
		return Moving
	case d.Idle.Set():
		return Idling
	}
	return Parked
}

// parked reports whether the vehicle stands with the engine off, as far
// as the message tells: fuel that goes then is drained.
func (d *Device) parked(s *Sample, cand bool) bool {
	known, on := s.ignition()
	return !cand && d.Run < 2 && !(d.Trip.On && d.Trip.Confirmed && !d.Stand.Set()) && !(known && on)
}

// mark is a Mark at message s.
func (d *Device) mark(s *Sample, st *Settings) Mark {
	m := Mark{T: s.T, Lat: nan32, Lon: nan32, Dist: float32(d.Trip.Dist), Mileage: d.Trip.MileageLast, Fuel: float32(d.Fuel.level())}
	if s.validFix(st) {
		m.Lat, m.Lon = s.Lat, s.Lon
	}
	return m
}

// gap ends what a gap longer than MaxGap ends, at the last message
// before it: the device was out of coverage or off.
func (d *Device) gap(st *Settings, out []Event) []Event {
	last := d.Last
	if d.Trip.On && d.Trip.Confirmed {
		out = d.endTrip(d.mark(&last, st), out)
	}
	d.Trip = TripState{}
	d.Stand, d.IgnOff = Mark{}, Mark{}
	if d.Idle.Set() {
		out = d.closeIdle(last.T, st, out)
	}
	if d.Over.Start != 0 {
		out = d.closeOver(st, out)
	}
	d.Run = 0
	return out
}

// idle follows ignition on without movement.
func (d *Device) idle(s *Sample, cand, moving bool, st *Settings, out []Event) []Event {
	known, on := s.ignition()
	switch {
	case d.Idle.Set() && known && !on:
		return d.closeIdle(s.T, st, out)
	case d.Idle.Set() && moving:
		return d.closeIdle(d.RunStart.T, st, out)
	case !d.Idle.Set() && known && on && !cand && !moving:
		d.Idle = Spot{T: s.T, Lat: nan32, Lon: nan32}
		if s.validFix(st) {
			d.Idle.Lat, d.Idle.Lon = s.Lat, s.Lon
		}
	}
	return out
}

func (d *Device) closeIdle(end int64, st *Settings, out []Event) []Event {
	start := d.Idle
	d.Idle = Spot{}
	if end-start.T < st.IdleMin.Milliseconds() {
		return out
	}
	e := newEvent(Idle, start.T, end)
	e.at(start.Lat, start.Lon, start.Lat, start.Lon)
	return d.emit(e, out)
}

// overspeed follows episodes above the speed limit.
func (d *Device) overspeed(s *Sample, fix, speedKnown bool, st *Settings, out []Event) []Event {
	if st.SpeedLimit <= 0 || !speedKnown {
		return out
	}
	if fix && float64(s.Speed) > st.SpeedLimit {
		if d.Over.Start == 0 {
			d.Over = Over{Start: s.T, Lat: s.Lat, Lon: s.Lon}
		}
		d.Over.N++
		d.Over.Last = s.T
		d.Over.Max = max(d.Over.Max, s.Speed)
		return out
	}
	if d.Over.Start != 0 {
		return d.closeOver(st, out)
	}
	return out
}

func (d *Device) closeOver(st *Settings, out []Event) []Event {
	o := d.Over
	d.Over = Over{}
	if o.N < 2 || o.Last-o.Start < st.OverspeedMin.Milliseconds() {
		return out // a blip, or one GNSS spike
	}
	e := newEvent(Overspeed, o.Start, o.Last)
	e.MaxSpeed = float64(o.Max)
	e.StartLat, e.StartLon = float64(o.Lat), float64(o.Lon)
	return d.emit(e, out)
}

// trip follows trips and the stops that end them.
func (d *Device) trip(s *Sample, step float64, standing, moving, startedMoving bool, st *Settings, out []Event) []Event {
	if !d.Trip.On {
		if startedMoving {
			d.startCandidate(step, st)
		}
		return out
	}
	t := &d.Trip
	if !startedMoving || t.Start.T != d.RunStart.T {
		t.Dist += step
	}
	if s.validFix(st) {
		t.MaxSpeed = max(t.MaxSpeed, s.Speed)
	}
	if m := s.Mileage; !math.IsNaN(m) {
		if m < t.MileageLast {
			t.MileageBad = true
		}
		if math.IsNaN(t.Start.Mileage) {
			t.Start.Mileage = m
		}
		t.MileageLast = m
	}
	if end, ok := d.stopped(s, standing, moving, startedMoving, st); ok {
		return d.stop(end, startedMoving, step, st, out)
	}
	if !t.Confirmed && (s.T-t.Start.T >= st.TripMinDuration.Milliseconds() || t.Dist >= st.TripMinDistance) {
		t.Confirmed = true
		if d.StopFrom.Set() {
			e := newEvent(Stop, d.StopFrom.T, t.Start.T)
			e.at(d.StopFrom.Lat, d.StopFrom.Lon, d.StopFrom.Lat, d.StopFrom.Lon)
			out = d.emit(e, out)
		}
	}
	return out
}

// startCandidate begins a candidate trip at the first of the moving
// messages, with the step from it to the second.
func (d *Device) startCandidate(step float64, st *Settings) {
	d.Trip = TripState{On: true, MileageLast: d.RunStart.Mileage}
	d.Trip.Start = d.mark(&d.RunStart, st)
	d.Trip.Dist = step
	d.Trip.MaxSpeed = d.RunStart.Speed
	d.Stand, d.IgnOff = Mark{}, Mark{}
}

// stopped reports whether the trip stopped, and at which message: a
// standstill of StopMinDuration, or ignition off for IgnitionOffMin,
// counted from its first message to the newest one still in it, or to
// the one that broke it (a tracker reports rarely while it stands).
func (d *Device) stopped(s *Sample, standing, moving, startedMoving bool, st *Settings) (Mark, bool) {
	known, on := s.ignition()
	breakAt := s.T
	if startedMoving {
		breakAt = d.RunStart.T
	}
	var end Mark
	found := false
	take := func(m Mark) {
		if !found || m.T < end.T {
			end, found = m, true
		}
	}
	if d.Stand.Set() && breakAt-d.Stand.T >= st.StopMinDuration.Milliseconds() {
		take(d.Stand)
	}
	if d.IgnOff.Set() && breakAt-d.IgnOff.T >= st.IgnitionOffMin.Milliseconds() && !moving {
		take(d.IgnOff)
		if d.Stand.Set() && d.Stand.T < d.IgnOff.T {
			take(d.Stand)
		}
	}
	if found {
		return end, true
	}
	switch {
	case moving:
		d.Stand = Mark{}
	case standing && !d.Stand.Set():
		d.Stand = d.mark(s, st)
		d.Stand.Dist = float32(d.Trip.Dist)
	}
	switch {
	case known && !on && !d.IgnOff.Set():
		d.IgnOff = d.mark(s, st)
		d.IgnOff.Dist = float32(d.Trip.Dist)
	case known && on:
		d.IgnOff = Mark{}
	}
	return Mark{}, false
}

// stop ends the trip (or drops the candidate) at end; when movement
// broke the stop, a new candidate begins.
func (d *Device) stop(end Mark, startedMoving bool, step float64, st *Settings, out []Event) []Event {
	if d.Trip.Confirmed {
		out = d.endTrip(end, out)
	}
	d.Trip = TripState{}
	d.Stand, d.IgnOff = Mark{}, Mark{}
	if startedMoving {
		d.startCandidate(step, st)
	}
	return out
}

// endTrip closes the trip at end, and the stop after it begins.
func (d *Device) endTrip(end Mark, out []Event) []Event {
	t := &d.Trip
	e := newEvent(Trip, t.Start.T, end.T)
	e.DistanceM = float64(end.Dist)
	// The device's mileage counter instead, where it behaves: never going
	// back, and within half and one and a half times the GNSS distance.
	if !t.MileageBad && !math.IsNaN(t.Start.Mileage) && !math.IsNaN(end.Mileage) {
		m := (end.Mileage - t.Start.Mileage) * 1000
		if d := float64(end.Dist); m >= 0.5*d && m <= 1.5*d {
			e.DistanceM = m
		}
	}
	e.FuelL = float64(t.Start.Fuel) - float64(end.Fuel)
	e.MaxSpeed = float64(t.MaxSpeed)
	e.at(t.Start.Lat, t.Start.Lon, end.Lat, end.Lon)
	d.StopFrom = Spot{T: end.T, Lat: end.Lat, Lon: end.Lon}
	return d.emit(e, out)
}

// emit counts a closed event and appends it.
func (d *Device) emit(e Event, out []Event) []Event {
	d.At = max(d.At, e.End)
	e.At = d.At
	d.LastKind = e.Kind
	if e.Kind == Drain {
		d.Drained = max(d.Drained, e.Start)
	}
	d.Totals.add(&e)
	return append(out, e)
}

// Position is the newest position accepted for distances: one that the
// speeds reported around it explain. A GNSS spike (a position hundreds of
// metres off and back, common while parked) is one the speeds do not.
type Position struct {
	T        int64
	Lat, Lon float32
	Speed    float32
	// Rejected positions in a row that agree with each other: the
	// vehicle was moved (a ferry, a tow) and the newest is taken.
	RejSpeed      float32
	RejT          int64
	RejLat, RejLo float32
	Rejected      uint8
	Has           bool
}

// step is the metres from the last accepted position to s, when s is
// accepted; 0 otherwise.
func (p *Position) step(s *Sample, st *Settings) float64 {
	if !s.validFix(st) {
		return 0
	}
	if !p.Has {
		p.take(s)
		return 0
	}
	if d, ok := within(p.Lat, p.Lon, s.Lat, s.Lon, allowed(s.T-p.T, p.Speed, s.Speed, st)); ok {
		p.take(s)
		return d
	}
	if p.Rejected > 0 && p.agreesWithRejected(s, st) {
		p.Rejected++
	} else {
		p.Rejected = 1
	}
	p.RejT, p.RejLat, p.RejLo, p.RejSpeed = s.T, s.Lat, s.Lon, s.Speed
	if p.Rejected >= 3 {
		p.take(s) // moved: from here on, without the distance of the move
	}
	return 0
}

// agreesWithRejected reports whether s is where the speeds put the
// vehicle since the last rejected position.
func (p *Position) agreesWithRejected(s *Sample, st *Settings) bool {
	_, ok := within(p.RejLat, p.RejLo, s.Lat, s.Lon, allowed(s.T-p.RejT, p.RejSpeed, s.Speed, st))
	return ok
}

func (p *Position) take(s *Sample) {
	*p = Position{Has: true, T: s.T, Lat: s.Lat, Lon: s.Lon, Speed: s.Speed}
}

// allowed is the most metres a vehicle covers in ms milliseconds: half
// as much again as the faster of the speeds reported at both ends, plus
// 5 m/s and 100 m of GNSS error; never more than Settings.MaxSpeed.
func allowed(ms int64, v1, v2 float32, st *Settings) float64 {
	dt := float64(max(ms, 0)) / 1000
	v := st.MaxSpeed / 3.6
	if !math.IsNaN(float64(v1)) && !math.IsNaN(float64(v2)) {
		v = min(v, float64(max(v1, v2))/3.6*1.5+5)
	}
	return dt*v + 100
}

// Flush closes what only time would close: nothing in device time will
// come (used by a dry run at the end of its file).
func (d *Device) Flush(st *Settings, out []Event) []Event {
	if d.N == 0 {
		return out
	}
	last := d.Last
	if d.Trip.On && d.Trip.Confirmed {
		end := d.Stand
		if !end.Set() {
			end = d.mark(&last, st)
		}
		out = d.endTrip(end, out)
	}
	d.Trip = TripState{}
	if d.Idle.Set() {
		out = d.closeIdle(last.T, st, out)
	}
	if d.Over.Start != 0 {
		out = d.closeOver(st, out)
	}
	return out
}

var nan32 = float32(math.NaN())

// at sets the event's positions.
func (e *Event) at(startLat, startLon, endLat, endLon float32) {
	e.StartLat, e.StartLon, e.EndLat, e.EndLon = float64(startLat), float64(startLon), float64(endLat), float64(endLon)
}

// within returns the distance between two positions when it is at most
// limit metres. The latitudes alone set a floor to the distance, without
// a trigonometric function: most jumps, and the comparisons of positions
// after a jump with the rejected one, are settled on it.
func within(lat1, lon1, lat2, lon2 float32, limit float64) (float64, bool) {
	if math.Abs(float64(lat2-lat1))*metresPerDegree > limit {
		return 0, false
	}
	d := distance32(lat1, lon1, lat2, lon2)
	return d, d <= limit
}

func distance32(lat1, lon1, lat2, lon2 float32) float64 {
	return distance(float64(lat1), float64(lon1), float64(lat2), float64(lon2))
}
