package mapping

import "sync/atomic"

// Device is one device's place for the state that outputs keep by
// device: each output keeps there, in a slot of its own, its state of the
// device, so that every message after the first finds it without a map
// lookup (one a message for each output: with a thousand devices, map
// probes were a tenth of the Prometheus-only path). Apply gives each
// message's Result the Device of its ident (Result.Device), the same one
// message after message.
//
// A Device belongs to the Result that made it, and so to one pipeline
// batch at a time: only the goroutine that holds the batch reads or writes
// its slots. What a slot holds is a hint: the output checks that it is
// still its own, current state of the device before it uses it.
type Device struct {
	slots [maxSlots]any
}

// Slot is an output's place in every Device.
type Slot uint8

// maxSlots is the slots a Device has: one for each kind of output that
// keeps state by device (gauges, devices, events, status, influx and
// remotewrite take one each; another output raises it).
const maxSlots = 6

var slotsTaken atomic.Uint32

// NewSlot takes a slot in every Device. An output package takes its one
// slot when it is initialised (a package variable), not per instance.
func NewSlot() Slot {
	n := slotsTaken.Add(1) - 1
	if n >= maxSlots {
		panic("mapping: more device slots taken than maxSlots")
	}
	return Slot(n)
}

// Get returns what the slot holds (nil on a nil Device).
func (d *Device) Get(s Slot) any {
	if d == nil {
		return nil
	}
	return d.slots[s]
}

// Set keeps v in the slot (nothing on a nil Device).
func (d *Device) Set(s Slot, v any) {
	if d != nil {
		d.slots[s] = v
	}
}
