package events

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// An import of history (flespi-exporter import, from flespi's REST API
// or files) has detectors of its own: the events of the past go into
// InfluxDB's flespi_events, so that the trips table and the fuel
// annotations have them from day one, and the live detectors and their
// counters are left alone (a month imported never fires a month of
// drain alerts, and a counter never goes back in time). A device's
// history counts only before its first live message: what the live
// detector saw is never counted twice. The history detectors live as
// long as the process: an import run again finds its messages passed
// already, and a new process makes the same events again, which InfluxDB
// keeps once.

// historyDevice is one device's detector of imported history.
type historyDevice struct {
	tags []mapping.Tag
	st   *fleet.Settings
	det  fleet.Device
	q    fleet.Queue
}

// takeHistory passes an import batch's messages to the history
// detectors, each device's in device-time order.
func (o *Output) takeHistory(pt *part) {
	touched := map[string]*historyDevice{}
	for i := range pt.entries {
		e := &pt.entries[i]
		if e.s.T >= o.liveFrom(e.ident) {
			continue // the live detector's
		}
		h := o.history[e.ident]
		if h == nil {
			h = &historyDevice{tags: slices.Clone(pt.tags[e.tagLo:e.tagHi]), st: o.thresholds.Of(e.ident, string(pt.names[e.nameLo:e.nameHi]))}
			o.history[e.ident] = h
		}
		h.q.Add(e.s, 0)
		touched[e.ident] = h
	}
	for ident, h := range touched {
		var closed []fleet.Event
		h.q.Release(0, -1, func(s fleet.Sample) { closed = h.det.Pass(s, h.st, closed) })
		for _, e := range closed {
			o.pastOut = append(o.pastOut, fleet.Record{Ident: ident, Tags: h.tags, Event: e})
		}
	}
}

// liveFrom is the device time from which ident's messages are the live
// detector's: its first message passed or held; none yet, never.
func (o *Output) liveFrom(ident string) int64 {
	d := o.devices[ident]
	switch {
	case d == nil:
		return math.MaxInt64
	case d.det.N > 0:
		return d.det.First
	case len(d.q.Held) > 0:
		return d.q.Oldest()
	}
	return math.MaxInt64
}

// flushHistory stores the history's events in the history stores.
func (o *Output) flushHistory(ctx context.Context) (int, error) {
	n := len(o.pastOut)
	if n == 0 {
		return 0, nil
	}
	for _, w := range o.historyW {
		if _, err := w.StoreEvents(ctx, o.pastOut, o.counters); err != nil {
			return 0, fmt.Errorf("storing the fleet events of history in %s: %w", w.Name(), err)
		}
	}
	for i := range o.pastOut {
		o.closed.WithLabelValues(o.pastOut[i].Event.Kind.String()).Inc()
	}
	clear(o.pastOut)
	o.pastOut = o.pastOut[:0]
	return n, nil
}
