package devices

import (
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// maxNameLen bounds the bytes of a device.name kept.
const maxNameLen = 200

// part is the Registry's share of a pipeline batch: the device of each
// message, registered once the batch is stored.
type part struct {
	seen   []Seen
	labels []mapping.Label // backing store of seen's labels
	names  []byte          // copies of device.name: the decoder reuses its buffers
}

// Name is the output's name.
func (r *Registry) Name() string { return "devices" }

// NewPart returns the Registry's part of a pipeline batch.
func (r *Registry) NewPart() pipeline.Part { return &part{} }

// Follow registers the devices of a stored batch.
func (r *Registry) Follow(p pipeline.Part, b *pipeline.Batch) {
	r.Update(p.(*part).seen, string(b.Source()))
}

func (p *part) Add(msg *message.Message, res *mapping.Result, received time.Time) {
	start := len(p.labels)
	for _, t := range res.Tags {
		p.labels = append(p.labels, mapping.Label{Name: t.Key, Value: t.Value})
	}
	at := res.Time.UnixNano()
	if res.Future {
		at = 0 // a device time far ahead must not become the device's newest
	}
	nameParam, motion, uploaded := read(msg)
	var name []byte
	if nameParam != nil {
		n := len(p.names)
		p.names = append(p.names, nameParam.Raw[:min(len(nameParam.Raw), maxNameLen)]...)
		name = p.names[n:len(p.names):len(p.names)]
	}
	p.seen = append(p.seen, Seen{
		Ident: res.Ident, Labels: p.labels[start:len(p.labels):len(p.labels)], Name: name,
		At: at, Received: message.UploadTime(uploaded, received), Arrival: received.UnixNano(), Mapped: res.Mapped, Unmapped: len(res.Unmapped), Motion: motion,
	})
}

// read finds, in one pass over the message, its device.name, what it
// says of the vehicle's motion and when flespi received it (0: not said).
// The names are told apart by length first: most parameters cost one
// comparison of integers.
func read(msg *message.Message) (name *message.Param, motion Motion, uploaded float64) {
	var m motionReader
	for i := range msg.Params {
		prm := &msg.Params[i]
		switch len(prm.Name) {
		case len("device.name"):
			if prm.Name == "device.name" && prm.Kind == message.String {
				name = prm
			}
		case len("position.speed"): // and rest.timestamp
			switch prm.Name {
			case "position.speed":
				if v, ok := prm.Float(); ok {
					m.speed(v)
				}
			case "rest.timestamp":
				if v, ok := prm.Float(); ok && uploaded == 0 {
					uploaded = v
				}
			}
		case len("server.timestamp"):
			if prm.Name == "server.timestamp" {
				if v, ok := prm.Float(); ok {
					uploaded = v
				}
			}
		case len("movement.status"):
			if prm.Name == "movement.status" && prm.Kind == message.Bool {
				m.boolean(prm.Bool())
			}
		case len("engine.ignition.status"):
			if prm.Name == "engine.ignition.status" && prm.Kind == message.Bool {
				m.boolean(prm.Bool())
			}
		}
	}
	return name, m.motion(), uploaded
}

func (p *part) Reset() {
	clear(p.seen)
	clear(p.labels)
	p.seen, p.labels, p.names = p.seen[:0], p.labels[:0], p.names[:0]
}

func (p *part) Size() int { return 88*cap(p.seen) + 32*cap(p.labels) + cap(p.names) }
