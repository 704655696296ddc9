package devices

import (
	"slices"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// A device counts as silent after a multiple of its usual gap between
// uploads, learned apart for moving and parked: trackers report every
// minute or so while moving and every 30 to 60 minutes (or a heartbeat
// every few hours) while parked, and one threshold for all pages for every
// parked tracker at night.
//
// The gaps are measured on the upload clock: when flespi received each
// message (server.timestamp; the exporter's arrival without it), which is
// also the clock the silent-device alert compares with. Many trackers
// record at one period and upload at another (Teltonika's "min period"
// and "send period"; a truck out of coverage uploads when it returns): a
// trailer recording hourly and uploading every 12 hours is quiet for 12
// hours, whatever its device times say. Arrivals less than uploadGap apart
// are one upload, so a catch-up burst after an outage (of the exporter or
// the stream: flespi's receive times keep the rhythm) is one upload, not a
// thousand one-second gaps. An import of a device's history from flespi
// carries the receive times and teaches its rhythm too.

// Motion is what a message says of the vehicle.
type Motion uint8

const (
	MotionUnknown Motion = iota // no movement, ignition or speed: the state stays
	Parked
	Moving
)

// movingSpeed is the speed (km/h) above which a message without movement
// or ignition counts as moving: parked trackers report GNSS drift of a few.
const movingSpeed = 5

// gapsKept is how many gaps are kept per state.
const gapsKept = 8

// rhythm is what a device's messages taught of its reporting.
type rhythm struct {
	moving bool // the state of its newest message
	// gaps between its messages, in seconds, per state (parked, moving),
	// the newest at next-1; 0: none yet.
	gaps [2][gapsKept]uint32
	next [2]uint8
}

// uploadGap is the least gap between two arrivals that makes them two
// uploads.
const uploadGap = time.Minute

// upload records the gap since the device's newest upload (after is
// false for its first): the gap belongs to the state the device was in
// while it was quiet. Gaps under uploadGap are one upload going on.
func (r *rhythm) upload(gap time.Duration, after bool) {
	if !after || gap < uploadGap {
		return
	}
	s := int64(gap / time.Second)
	st := state(r.moving)
	r.gaps[st][r.next[st]] = uint32(min(s, 1<<32-1))
	r.next[st] = (r.next[st] + 1) % gapsKept
}

// set takes the state of the device's newest message.
func (r *rhythm) set(m Motion) {
	if m != MotionUnknown {
		r.moving = m == Moving
	}
}

// list is the gaps of a state, oldest first, for the registry file.
func (r *rhythm) list(st int) []uint32 {
	var out []uint32
	for i := range gapsKept {
		if g := r.gaps[st][(int(r.next[st])+i)%gapsKept]; g > 0 {
			out = append(out, g)
		}
	}
	return out
}

// load restores what list saved.
func (r *rhythm) load(moving bool, parked, movingGaps []uint32) {
	r.moving = moving
	for st, gaps := range [][]uint32{parked, movingGaps} {
		for _, g := range gaps[max(0, len(gaps)-gapsKept):] {
			if g > 0 {
				r.gaps[st][r.next[st]] = g
				r.next[st] = (r.next[st] + 1) % gapsKept
			}
		}
	}
}

func state(moving bool) int {
	if moving {
		return 1
	}
	return 0
}

// minGaps is how many gaps of a state make a usual gap: fewer, and the
// device is new to that state.
const minGaps = 3

// usual is the device's usual gap in its current state: the second
// longest of the last gaps, so that one long outage does not become the
// rule; 0 when too few are known.
func (r *rhythm) usual() time.Duration {
	var known [gapsKept]uint32 // on the stack: a scrape asks for every device
	n := 0
	for _, g := range r.gaps[state(r.moving)] {
		if g > 0 {
			known[n] = g
			n++
		}
	}
	if n < minGaps {
		return 0
	}
	slices.Sort(known[:n])
	return time.Duration(known[n-2]) * time.Second
}

// SilencePolicy turns what a device learned into its silence: the
// [silence] section.
type SilencePolicy struct {
	floor, max time.Duration
	factor     float64
	devices    []config.SilenceFor
}

// NewSilencePolicy compiles the [silence] section (checked at load).
func NewSilencePolicy(cfg config.Silence) *SilencePolicy {
	return &SilencePolicy{floor: time.Duration(cfg.Floor), max: time.Duration(cfg.Max), factor: cfg.Factor, devices: cfg.Devices}
}

// silentAfter is a device's silence: what the configuration sets for it,
// or its usual gap times the factor within the floor and the maximum.
func (p *SilencePolicy) silentAfter(ident, name string, r *rhythm) time.Duration {
	for _, d := range p.devices {
		if config.DeviceMatches(d.Ident, d.Name, ident, name) {
			return time.Duration(d.After)
		}
	}
	usual := time.Duration(float64(r.usual()) * p.factor)
	return min(max(usual, p.floor), p.max)
}

// motionReader reads what a message's parameters say of the vehicle:
// moving when movement.status or engine.ignition.status is true or
// position.speed is above a walking pace; parked when any of them says
// otherwise; unknown without them. The caller hands it each of them.
type motionReader struct{ seen, moving bool }

func (m *motionReader) boolean(v bool) {
	m.seen = true
	m.moving = m.moving || v
}

func (m *motionReader) speed(kmh float64) {
	m.seen = true
	m.moving = m.moving || kmh > movingSpeed
}

func (m *motionReader) motion() Motion {
	switch {
	case m.moving:
		return Moving
	case m.seen:
		return Parked
	}
	return MotionUnknown
}
