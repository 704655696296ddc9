package gauges

import (
	"time"
	"unsafe"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// part is the Store's share of a pipeline batch: the gauge samples of its
// messages, applied once the batch is stored.
type part struct {
	samples []mapping.Sample
	groups  []Group         // the samples of each message, with its device labels
	labels  []mapping.Label // backing store of the groups' labels
}

// NewPart returns the Store's part of a pipeline batch.
func (g *Store) NewPart() pipeline.Part { return &part{} }

// Name is the output's name.
func (g *Store) Name() string { return "gauges" }

// Follow applies the samples of a stored batch.
func (g *Store) Follow(p pipeline.Part, _ *pipeline.Batch) {
	pt := p.(*part)
	g.Update(pt.groups, pt.samples)
}

// Add keeps the samples of one message with its device labels (ident and
// message tags, strings of their own).
func (p *part) Add(_ *message.Message, r *mapping.Result, _ time.Time) {
	if len(r.Samples) == 0 {
		return
	}
	start := len(p.labels)
	for _, t := range r.Tags {
		p.labels = append(p.labels, mapping.Label{Name: t.Key, Value: t.Value})
	}
	first := len(p.samples)
	p.samples = append(p.samples, r.Samples...)
	p.groups = append(p.groups, Group{Labels: p.labels[start:len(p.labels):len(p.labels)], Start: first, End: len(p.samples), Device: r.Device})
}

func (p *part) Reset() {
	clear(p.samples) // drop the references to label strings
	clear(p.groups)
	clear(p.labels)
	p.samples, p.groups, p.labels = p.samples[:0], p.groups[:0], p.labels[:0]
}

func (p *part) Size() int {
	return int(unsafe.Sizeof(mapping.Sample{}))*cap(p.samples) + int(unsafe.Sizeof(Group{}))*cap(p.groups) + int(unsafe.Sizeof(mapping.Label{}))*cap(p.labels)
}
