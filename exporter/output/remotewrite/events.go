package remotewrite

import (
	"context"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// StoreEvents sends each event's device counters (counters: their
// series, in fleet.Counters' order) at the time the event closed, with
// the values they have once it is counted: a resent event sends the same
// samples again, which a receiver takes as the same.
func (w *Writer) StoreEvents(ctx context.Context, recs []fleet.Record, counters []*mapping.Gauge) (pipeline.Stored, error) {
	p := w.NewPart().(*part)
	for i := range recs {
		p.addCounters(&recs[i], counters)
	}
	return w.Store(ctx, p)
}

// addCounters adds the samples of one event's counters.
func (p *part) addCounters(r *fleet.Record, counters []*mapping.Gauge) {
	p.deviceKey(r.Tags)
	p.place(p.t.find(p.key, r.Tags, counters))
	for i, c := range fleet.Counters {
		p.add(p.at[i], sample{r.Event.At, c.Value(&r.Totals)})
	}
}
