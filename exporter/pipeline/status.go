package pipeline

import (
	"time"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// maxExampleLen bounds the bytes of an unmapped parameter's example value.
const maxExampleLen = 80

// MessageStatus is what a batch keeps of one message for the status page.
type MessageStatus struct {
	Ident  string
	Name   []byte // device.name; a copy, valid while the batch is
	At     time.Time
	Mapped int // parameters a rule matched

	unmappedStart, unmappedEnd int // its values in Batch.unmappedValues
}

// UnmappedValue is one parameter of a message that no rule maps, with a
// short copy of its value (valid while the batch is).
type UnmappedValue struct {
	Name    string
	Kind    message.Kind
	Example []byte
}

// Messages returns what the status page keeps of each mapped message.
func (b *Batch) Messages() []MessageStatus { return b.status }

// Unmapped returns the unmapped values of one of b.Messages().
func (b *Batch) Unmapped(ms *MessageStatus) []UnmappedValue {
	return b.unmappedValues[ms.unmappedStart:ms.unmappedEnd]
}

// addStatus keeps what the status page needs of b.res: the device, the
// unmapped parameters with an example value each, the rules that matched.
// Values are copied (short): the decoder reuses its buffers.
func (b *Batch) addStatus(msg *message.Message) {
	r := &b.res
	start := len(b.unmappedValues)
	for _, i := range r.UnmappedAt {
		p := &msg.Params[i]
		b.unmappedValues = append(b.unmappedValues, UnmappedValue{Name: p.Name, Kind: p.Kind, Example: b.keep(p.Raw, maxExampleLen)})
	}
	var name []byte
	if p := msg.Get("device.name"); p != nil && p.Kind == message.String {
		name = b.keep(p.Raw, 200)
	}
	b.status = append(b.status, MessageStatus{
		Ident: r.Ident, Name: name, At: r.Time, Mapped: r.Mapped,
		unmappedStart: start, unmappedEnd: len(b.unmappedValues),
	})
}

// keep copies up to n bytes of raw into the batch's text store.
func (b *Batch) keep(raw []byte, n int) []byte {
	start := len(b.texts)
	b.texts = append(b.texts, raw[:min(len(raw), n)]...)
	return b.texts[start:len(b.texts):len(b.texts)]
}
