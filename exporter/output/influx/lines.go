package influx

import (
	"slices"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Lines is line protocol to store, with the flespi message each line was
// made from, so that a line InfluxDB refuses can be kept with its message.
// It is the Sink's part of a pipeline batch: the batch fills it as it maps
// messages (Add); the Sink only reads it.
type Lines struct {
	Text     []byte   // one point per line, each ending in '\n'
	Ends     []int    // end offset in Text of each line
	Origin   []int    // index in Messages of the message of each line
	Messages [][]byte // JSON text of the messages
}

// Len is the number of lines.
func (l *Lines) Len() int { return len(l.Ends) }

// Span returns the text of lines [lo, hi).
func (l *Lines) Span(lo, hi int) []byte {
	start := 0
	if lo > 0 {
		start = l.Ends[lo-1]
	}
	return l.Text[start:l.Ends[hi-1]]
}

// AddMessage starts the lines of one more message, whose JSON text is msg
// (not copied: it must stay as it is while l is in use).
func (l *Lines) AddMessage(msg []byte) { l.Messages = append(l.Messages, msg) }

// EndLine records the end of a line just appended to Text, as a line of
// the last message added.
func (l *Lines) EndLine() {
	l.Ends = append(l.Ends, len(l.Text))
	l.Origin = append(l.Origin, len(l.Messages)-1)
}

// Reset empties l, keeping its memory.
func (l *Lines) Reset() {
	clear(l.Messages) // drop the references to the request body
	l.Text, l.Ends, l.Origin, l.Messages = l.Text[:0], l.Ends[:0], l.Origin[:0], l.Messages[:0]
}

// Cap is the memory l holds, in bytes, roughly: what a pool weighs before
// keeping it.
func (l *Lines) Cap() int {
	return cap(l.Text) + 8*(cap(l.Ends)+cap(l.Origin)) + 24*cap(l.Messages)
}

// Add writes the points of one mapped message as line protocol. The
// message's text is kept as it is (a slice of the batch's body).
func (l *Lines) Add(msg *message.Message, r *mapping.Result, _ time.Time) {
	if len(r.Points) == 0 {
		return
	}
	l.AddMessage(msg.Raw)
	for i := range r.Points {
		p := &r.Points[i]
		if i == 0 {
			l.Text = appendSeriesOf(l.Text, r.Device, p)
		} else {
			l.Text = appendSeries(l.Text, p)
		}
		l.Text = appendFields(l.Text, p)
		l.EndLine()
	}
}

// slot is the InfluxDB output's place in every mapping.Device: the series
// of the device's first point, written once.
var slot = mapping.NewSlot()

// series is a point's measurement and tags, and their line protocol. A
// device's messages repeat them, and escaping them again was a fifth of
// writing a line.
type series struct {
	measurement string
	tags        []mapping.Tag // strings of their own: a rule's tag may point into a body
	text        []byte
}

// appendSeriesOf writes the point's measurement and tags as its device's
// last first point had them when they are the same, else anew (and keeps
// them in the device's place for the next message).
func appendSeriesOf(b []byte, dev *mapping.Device, p *mapping.Point) []byte {
	s, _ := dev.Get(slot).(*series)
	if s != nil && s.measurement == p.Measurement && slices.Equal(s.tags, p.Tags) {
		return append(b, s.text...)
	}
	start := len(b)
	b = appendSeries(b, p)
	if dev != nil {
		if s == nil {
			s = &series{}
			dev.Set(slot, s)
		}
		s.measurement = strings.Clone(p.Measurement)
		s.tags = s.tags[:0]
		for _, t := range p.Tags {
			s.tags = append(s.tags, mapping.Tag{Key: strings.Clone(t.Key), Value: strings.Clone(t.Value)})
		}
		s.text = append(s.text[:0], b[start:]...)
	}
	return b
}

// Size is Cap, for the pipeline's pool.
func (l *Lines) Size() int { return l.Cap() }
