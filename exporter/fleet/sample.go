package fleet

import (
	"math"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// Sample is what the detector reads of one message: 48 bytes, so that a
// device's messages held for reordering stay small.
type Sample struct {
	T        int64   // device time, Unix milliseconds
	Lat, Lon float64 // with HasPos
	Mileage  float64 // vehicle.mileage, km; NaN: not sent
	Speed    float32 // position.speed, km/h; NaN: not sent
	Fuel     float32 // litres, or percent with FuelPercent; NaN: not sent or 0
	Sats     uint8   // position.satellites; NoSats: not sent
	Flags    Flags
}

// NoSats is Sample.Sats of a message without position.satellites.
const NoSats = 255

// Flags are a sample's yes-or-no facts.
type Flags uint8

// The flags.
const (
	HasPos      Flags = 1 << iota // position.latitude and position.longitude
	PosInvalid                    // position.valid is false
	IgnKnown                      // engine.ignition.status is sent
	IgnOn                         // and true
	FuelPercent                   // Fuel is fuel.level or can.fuel.level, in percent
)

// validFix reports whether the sample has a position to trust: not marked
// invalid, and with enough satellites where their number is sent.
func (s *Sample) validFix(st *Settings) bool {
	return s.Flags&HasPos != 0 && s.Flags&PosInvalid == 0 && (s.Sats == NoSats || int(s.Sats) >= st.MinSatellites)
}

// ignition is what the sample says of the ignition: known, and on.
func (s *Sample) ignition() (known, on bool) {
	return s.Flags&IgnKnown != 0, s.Flags&IgnOn != 0
}

// Read reads a message's sample at its device time t (Unix ms), in one
// pass over its parameters. fuel.volume wins over can.fuel.volume, and a
// volume over a level.
func Read(msg *message.Message, t int64) Sample {
	nan := float32(math.NaN())
	s := Sample{T: t, Mileage: math.NaN(), Speed: nan, Fuel: nan, Sats: NoSats}
	var lat, lon, level, volume = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	canMileage, canVolume, canLevel := math.NaN(), math.NaN(), math.NaN()
	for i := range msg.Params {
		p := &msg.Params[i]
		// A switch on strings compares lengths first: most parameters
		// cost a comparison of integers.
		switch p.Name {
		case "position.speed":
			if v, ok := floatOf(p); ok {
				s.Speed = float32(v)
			}
		case "position.valid":
			if p.Kind == message.Bool && !p.Bool() {
				s.Flags |= PosInvalid
			}
		case "position.latitude":
			lat, _ = floatOf(p)
		case "position.longitude":
			lon, _ = floatOf(p)
		case "position.satellites":
			if v, ok := floatOf(p); ok {
				s.Sats = uint8(min(max(v, 0), NoSats-1))
			}
		case "engine.ignition.status":
			if p.Kind == message.Bool {
				s.Flags |= IgnKnown
				if p.Bool() {
					s.Flags |= IgnOn
				}
			}
		case "fuel.volume":
			volume, _ = floatOf(p)
		case "can.fuel.volume":
			canVolume, _ = floatOf(p)
		case "fuel.level":
			level, _ = floatOf(p)
		case "can.fuel.level":
			canLevel, _ = floatOf(p)
		case "vehicle.mileage":
			s.Mileage, _ = floatOf(p)
		case "can.vehicle.mileage":
			canMileage, _ = floatOf(p)
		}
	}
	if math.IsNaN(volume) {
		volume = canVolume
	}
	if math.IsNaN(level) {
		level = canLevel
	}
	if !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		s.Lat, s.Lon = lat, lon
		s.Flags |= HasPos
	}
	if math.IsNaN(s.Mileage) {
		s.Mileage = canMileage
	}
	switch {
	case volume > 0: // 0 is a sensor's "no reading", never an empty tank
		s.Fuel = float32(volume)
	case level > 0 && level <= 100:
		s.Fuel = float32(level)
		s.Flags |= FuelPercent
	}
	return s
}

// floatOf is a number parameter's value; NaN for anything else.
func floatOf(p *message.Param) (float64, bool) {
	if p.Kind != message.Number {
		return math.NaN(), false
	}
	v, ok := p.Float()
	if !ok || math.IsInf(v, 0) {
		return math.NaN(), false
	}
	return v, true
}
