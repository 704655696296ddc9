package events

import (
	"slices"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
)

// Note is what the status page shows of a device's fleet events.
type Note struct {
	Motion    string    `json:"motion"`               // parked, moving, idling
	LastEvent string    `json:"last_event,omitempty"` // trip, stop, idle, refuel, drain, overspeed
	LastAt    time.Time `json:"last_event_at"`        // when it ended, device time
}

// Notes are the notes of the devices named (those the status page shows).
func (o *Output) Notes(idents []string) map[string]Note {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]Note, len(idents))
	for _, id := range idents {
		d := o.devices[id]
		if d == nil {
			continue
		}
		n := Note{Motion: d.det.Motion().String()}
		if d.det.LastKind != 0 {
			n.LastEvent, n.LastAt = d.det.LastKind.String(), time.UnixMilli(d.det.At).UTC()
		}
		out[id] = n
	}
	return out
}

// Drain is a fuel drain, as the status page and `flespi-exporter status`
// list the recent ones.
type Drain struct {
	Ident  string    `json:"ident"`
	Name   string    `json:"name,omitempty"`
	Litres float64   `json:"litres"`
	Start  time.Time `json:"start"` // device time
	End    time.Time `json:"end"`
}

// keptDrains bounds the recent drains kept.
const keptDrains = 256

// noteDrain keeps a drain for the lists; o.mu is held.
func (o *Output) noteDrain(d *device, e *fleet.Event) {
	o.drains = append(o.drains, Drain{Ident: d.ident, Name: d.name, Litres: e.FuelL, Start: time.UnixMilli(e.Start).UTC(), End: time.UnixMilli(e.End).UTC()})
	if len(o.drains) > keptDrains {
		o.drains = slices.Delete(o.drains, 0, len(o.drains)-keptDrains)
	}
}

// Drains are the drains that ended since since, newest first.
func (o *Output) Drains(since time.Time) []Drain {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Drain
	for i := len(o.drains) - 1; i >= 0; i-- {
		if !o.drains[i].End.Before(since) {
			out = append(out, o.drains[i])
		}
	}
	return out
}
