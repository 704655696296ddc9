package fleet

import (
	"cmp"
	"math"
)

// Fuel follows a device's fuel level for refuels and drains. Level
// sensors are noisy (sloshing, slopes, temperature): every level is the
// median of the last readings, and a change counts only once the level
// has stayed changed over a window (Settings.FuelWindow, or two of the
// device's gaps between readings where longer: parked trackers often
// report hourly), as Wialon's filter and timeouts do.
type Fuel struct {
	Raw     [medianOf]float32 // the last readings, litres
	S       float32           // the smoothed level now
	LastT   int64
	Gaps    [gapsOf]uint32  // seconds between readings
	RingT   [ringOf]uint32  // the last readings' times (Unix seconds) and litres, to date a change
	RingRaw [ringOf]float32 //
	Drain   Change
	Rise    Change
	NRaw    uint8
	GapI    uint8
	RingI   uint8
}

const (
	medianOf = 5 // readings the median is of
	gapsOf   = 4 // gaps the usual gap is of
	ringOf   = 8 // readings kept to date a change
)

// reading is one fuel reading: its time and litres.
type reading struct {
	T   int64
	Raw float32
}

// Change is a rise (or a fall) being judged: the level it is measured
// from (the lowest since the last one, or the highest), and the furthest
// it went.
type Change struct {
	Ref, Ext   float32
	Last       float32 // the newest smoothed level while it could be
	RefT, ExtT int64
	HasRef, On bool
}

// level is the smoothed level, litres (NaN: none yet).
func (f *Fuel) level() float64 {
	if f.NRaw == 0 {
		return math.NaN()
	}
	return float64(f.S)
}

// litres is the sample's fuel in litres: a percentage needs the tank's
// capacity.
func litres(s *Sample, st *Settings) float64 {
	v := float64(s.Fuel)
	if math.IsNaN(v) {
		return v
	}
	if s.Flags&FuelPercent != 0 {
		if st.TankCapacity <= 0 {
			return math.NaN()
		}
		return v / 100 * st.TankCapacity
	}
	return v
}

// pass takes the sample's fuel reading, if it has one; parked says the
// vehicle stands with the engine off (drains count only then).
func (f *Fuel) pass(s *Sample, st *Settings, parked bool, out *[]Event) {
	l := litres(s, st)
	if math.IsNaN(l) {
		return
	}
	if f.NRaw > 0 && s.T > f.LastT {
		f.Gaps[f.GapI%gapsOf] = uint32(min((s.T-f.LastT)/1000, math.MaxUint32))
		f.GapI++
	}
	f.LastT = s.T
	copy(f.Raw[:], f.Raw[1:])
	f.Raw[medianOf-1] = float32(l)
	f.NRaw = min(f.NRaw+1, medianOf)
	f.S = float32(median(f.Raw[medianOf-int(f.NRaw):]))
	f.RingT[f.RingI%ringOf], f.RingRaw[f.RingI%ringOf] = uint32(max(s.T/1000, 0)), float32(l)
	f.RingI++
	w := f.window(st)
	if e, ok := f.Drain.step(f, s.T, parked, -1, st.drainMin(), w); ok {
		*out = append(*out, e)
	}
	if e, ok := f.Rise.step(f, s.T, true, +1, st.refuelMin(), w); ok {
		*out = append(*out, e)
	}
}

// window is how long a change must hold before it counts, ms.
func (f *Fuel) window(st *Settings) int64 {
	var g [gapsOf]uint32
	n := 0
	for _, v := range f.Gaps {
		if v > 0 {
			g[n] = v
			n++
		}
	}
	w := st.FuelWindow.Milliseconds()
	if n > 0 {
		sortFew(g[:n])
		w = max(w, 2*int64(g[n/2])*1000)
	}
	return w
}

// step judges the newest smoothed level: dir is +1 for a rise, -1 for a
// fall; min the least change in litres; w the window it must hold over.
// It returns the event when one is judged complete.
func (c *Change) step(f *Fuel, t int64, active bool, dir, least float64, w int64) (Event, bool) {
	s := float64(f.S)
	if !active {
		// The engine started: a fall that held until now was a drain.
		if c.On && dir*float64(c.Last-c.Ref) >= least {
			e := c.event(f, dir, least)
			*c = Change{}
			return e, true
		}
		*c = Change{}
		return Event{}, false
	}
	c.Last = f.S
	if !c.HasRef {
		c.HasRef, c.Ref, c.RefT = true, f.S, t
		return Event{}, false
	}
	ref, ext := float64(c.Ref), float64(c.Ext)
	noise := least / 2
	if !c.On {
		switch {
		case dir*(s-ref) < 0: // further from the change: the new reference
			c.Ref, c.RefT, ref = f.S, t, s
		case dir*(s-ref) < noise:
			c.RefT = t // still at the reference: the change begins later
		}
		if dir*(s-ref) >= least {
			c.On, c.Ext, c.ExtT = true, f.S, t
		}
		return Event{}, false
	}
	switch {
	case dir*(s-ext) > 0:
		if dir*(s-ext) > noise/4 {
			c.ExtT = t // still changing
		}
		c.Ext = f.S
	case dir*(s-ref) < least:
		c.On = false // back: sloshing, a slope, a glitch
		return Event{}, false
	}
	if t-c.ExtT < w {
		return Event{}, false
	}
	e := c.event(f, dir, least)
	c.On, c.Ref, c.RefT = false, f.S, t
	return e, true
}

// event is the change as an event, dated by the raw readings where they
// are still kept: from the last reading at the reference level to the
// first at the furthest.
func (c *Change) event(f *Fuel, dir, least float64) Event {
	kind := Refuel
	if dir < 0 {
		kind = Drain
	}
	e := newEvent(kind, c.RefT, c.ExtT)
	ref, ext := float64(c.Ref), float64(c.Ext)
	e.FuelL = dir * (ext - ref)
	noise := min(least/2, 3)
	n := min(int(f.RingI), ringOf)
	readings := make([]reading, 0, ringOf)
	for i := n; i > 0; i-- {
		j := (int(f.RingI) - i) % ringOf
		readings = append(readings, reading{int64(f.RingT[j]) * 1000, f.RingRaw[j]})
	}
	// start: the last reading near the reference before the furthest
	for i := len(readings) - 1; i >= 0; i-- {
		r := readings[i]
		// not bounded by RefT: the median lags the raw readings
		if r.T <= c.ExtT && dir*(float64(r.Raw)-ref) < noise {
			e.Start = r.T
			break
		}
	}
	// end: the first reading after the start near the furthest
	for _, r := range readings {
		if r.T > e.Start && dir*(ext-float64(r.Raw)) < noise {
			e.End = r.T
			break
		}
	}
	if e.End < e.Start {
		e.End = e.Start
	}
	return e
}

// median is the median of vs (at most medianOf, none NaN).
func median(vs []float32) float64 {
	var b [medianOf]float32
	s := b[:len(vs)]
	copy(s, vs)
	sortFew(s)
	n := len(s)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return (float64(s[n/2-1]) + float64(s[n/2])) / 2
}

// sortFew sorts a handful of values by insertion, every reading: for
// five, slices.Sort's general algorithm cost a sample more than the rest
// of the fuel detector.
func sortFew[T cmp.Ordered](s []T) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
