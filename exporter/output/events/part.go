package events

import (
	"time"
	"unsafe"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// part is the output's share of a batch: each message's sample, with its
// device's ident, tags and name.
type part struct {
	entries  []entry
	tags     []mapping.Tag // backing store of the entries' tags
	names    []byte        // copies of device.name
	received int64         // Unix ms
	reader   fleet.Reader
	history  bool // an import of history: its own detectors (history.go)
	taken    bool // the output has queued the entries
}

type entry struct {
	ident          string          // a string of its own (mapping.Result)
	dev            *mapping.Device // the device's place (mapping.Result.Device)
	tagLo, tagHi   int32
	nameLo, nameHi int32
	s              fleet.Sample
}

// maxNameLen bounds the bytes of a device.name kept.
const maxNameLen = 200

func (p *part) Begin(source pipeline.Source) { p.history = source == pipeline.SourceImport }

func (p *part) Add(msg *message.Message, r *mapping.Result, received time.Time) {
	if r.Future || r.Ident == "" {
		return
	}
	p.received = received.UnixMilli()
	s, name := p.reader.Read(msg, r.Time.UnixMilli())
	e := entry{ident: r.Ident, dev: r.Device, s: s}
	e.tagLo = int32(len(p.tags))
	p.tags = append(p.tags, r.Tags...)
	e.tagHi = int32(len(p.tags))
	e.nameLo = int32(len(p.names))
	if name != nil {
		p.names = append(p.names, name.Raw[:min(len(name.Raw), maxNameLen)]...)
	}
	e.nameHi = int32(len(p.names))
	p.entries = append(p.entries, e)
}

func (p *part) Reset() {
	clear(p.entries)
	clear(p.tags)
	p.entries, p.tags, p.names = p.entries[:0], p.tags[:0], p.names[:0]
	p.taken, p.history = false, false
}

func (p *part) Size() int {
	return int(unsafe.Sizeof(entry{}))*cap(p.entries) + 32*cap(p.tags) + cap(p.names)
}
