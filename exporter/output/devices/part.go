package devices

import (
	"time"
	"unsafe"

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
	read   *message.Index  // the parameters the registry reads (readNames)
}

// Name is the output's name.
func (r *Registry) Name() string { return "devices" }

// NewPart returns the Registry's part of a pipeline batch.
func (r *Registry) NewPart() pipeline.Part { return &part{read: message.NewIndex(readNames[:]...)} }

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
	nameParam, motion, uploaded := p.readMessage(msg)
	var name []byte
	if nameParam != nil {
		n := len(p.names)
		p.names = append(p.names, nameParam.Raw[:min(len(nameParam.Raw), maxNameLen)]...)
		name = p.names[n:len(p.names):len(p.names)]
	}
	p.seen = append(p.seen, Seen{
		Ident: res.Ident, Labels: p.labels[start:len(p.labels):len(p.labels)], Name: name,
		At: at, Received: message.UploadTime(uploaded, received), Arrival: received.UnixNano(), Mapped: res.Mapped, Unmapped: len(res.Unmapped), Motion: motion, Device: res.Device,
	})
}

// readNames are the parameters the registry reads, by their place in
// part.read.
var readNames = [...]string{"device.name", "position.speed", "movement.status", "engine.ignition.status", "server.timestamp", "rest.timestamp"}

const (
	rName = iota
	rSpeed
	rMovement
	rIgnition
	rServerTime
	rRESTTime
)

// readMessage reads a message's device.name, what it says of the
// vehicle's motion and when flespi received it (0: not said).
func (p *part) readMessage(msg *message.Message) (name *message.Param, motion Motion, uploaded float64) {
	x := p.read
	x.Read(msg)
	if name = x.Get(msg, rName); name != nil && name.Kind != message.String {
		name = nil
	}
	var m motionReader
	if prm := x.Get(msg, rSpeed); prm != nil {
		if v, ok := prm.Float(); ok {
			m.speed(v)
		}
	}
	for _, i := range []int{rMovement, rIgnition} {
		if prm := x.Get(msg, i); prm != nil && prm.Kind == message.Bool {
			m.boolean(prm.Bool())
		}
	}
	return name, m.motion(), message.ServerTimeOf(x.Get(msg, rServerTime), x.Get(msg, rRESTTime))
}

func (p *part) Reset() {
	clear(p.seen)
	clear(p.labels)
	p.seen, p.labels, p.names = p.seen[:0], p.labels[:0], p.names[:0]
}

func (p *part) Size() int {
	return int(unsafe.Sizeof(Seen{}))*cap(p.seen) + int(unsafe.Sizeof(mapping.Label{}))*cap(p.labels) + cap(p.names)
}
