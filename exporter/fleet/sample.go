package fleet

import (
	"math"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// Sample is what the detector reads of one message: 48 bytes, so that a
// device's messages held for reordering stay small.
type Sample struct {
	T        int64   // device time, Unix milliseconds
	Mileage  float64 // vehicle.mileage, km; NaN: not sent
	Lat, Lon float32 // with HasPos: float32 is within half a metre
	Speed    float32 // position.speed, km/h; NaN: not sent
	Fuel     float32 // litres, or percent with FuelPercent; NaN: not sent or 0
	Sats     uint8   // position.satellites; NoSats: not sent
	Flags    Flags
	// Arrival is when the exporter received it and Upload when flespi
	// did (its server.timestamp), Unix seconds, while a Queue holds it.
	Arrival, Upload uint32
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

// wanted are the parameters a sample is read from, by their place in the
// Reader's message.Index.
var wanted = [...]string{
	"position.speed", "position.valid", "position.latitude", "position.longitude", "position.satellites",
	"engine.ignition.status", "fuel.volume", "can.fuel.volume", "fuel.level", "can.fuel.level",
	"vehicle.mileage", "can.vehicle.mileage", "device.name", "server.timestamp", "rest.timestamp",
}

const (
	pSpeed = iota
	pValid
	pLat
	pLon
	pSats
	pIgnition
	pVolume
	pCanVolume
	pLevel
	pCanLevel
	pMileage
	pCanMileage
	pName
	pServerTime
	pRESTTime
)

// Reader reads samples, finding the wanted parameters by where they were
// in the last message (message.Index). Its zero value is ready to use.
type Reader struct{ x *message.Index }

// Read reads a message's sample at its device time t (Unix ms), with the
// time flespi received it (Upload: server.timestamp, else rest.timestamp),
// and its device.name (nil without). fuel.volume wins over
// can.fuel.volume, and a volume over a level.
func (r *Reader) Read(msg *message.Message, t int64) (Sample, *message.Param) {
	if r.x == nil {
		r.x = message.NewIndex(wanted[:]...)
	}
	r.x.Read(msg)
	get := func(i int) *message.Param { return r.x.Get(msg, i) }
	num := func(i int) float64 {
		if p := get(i); p != nil {
			v, _ := floatOf(p)
			return v
		}
		return math.NaN()
	}
	nan := float32(math.NaN())
	s := Sample{T: t, Mileage: num(pMileage), Speed: nan, Fuel: nan, Sats: NoSats}
	if v := num(pSpeed); !math.IsNaN(v) {
		s.Speed = float32(v)
	}
	if p := get(pValid); p != nil && p.Kind == message.Bool && !p.Bool() {
		s.Flags |= PosInvalid
	}
	if v := num(pSats); !math.IsNaN(v) {
		s.Sats = uint8(min(max(v, 0), NoSats-1))
	}
	if p := get(pIgnition); p != nil && p.Kind == message.Bool {
		s.Flags |= IgnKnown
		if p.Bool() {
			s.Flags |= IgnOn
		}
	}
	if lat, lon := num(pLat), num(pLon); !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		s.Lat, s.Lon = float32(lat), float32(lon)
		s.Flags |= HasPos
	}
	if math.IsNaN(s.Mileage) {
		s.Mileage = num(pCanMileage)
	}
	volume, level := num(pVolume), num(pLevel)
	if math.IsNaN(volume) {
		volume = num(pCanVolume)
	}
	if math.IsNaN(level) {
		level = num(pCanLevel)
	}
	switch {
	case volume > 0: // 0 is a sensor's "no reading", never an empty tank
		s.Fuel = float32(volume)
	case level > 0 && level <= 100:
		s.Fuel = float32(level)
		s.Flags |= FuelPercent
	}
	if up := message.ServerTimeOf(get(pServerTime), get(pRESTTime)); up > 0 && up < math.MaxUint32 {
		s.Upload = uint32(up)
	}
	name := get(pName)
	if name != nil && name.Kind != message.String {
		name = nil
	}
	return s, name
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
