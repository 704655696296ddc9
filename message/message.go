// Package message decodes the JSON bodies a flespi HTTP stream sends into flat
// lists of parameters, keeping each value's exact JSON text.
//
// flespi messages are flat objects with dotted parameter names. The decoder
// keeps number literals as text so that timestamps with microseconds, large
// integers and decimal values reach the mapping without a float round trip.
// It knows nothing of rules, InfluxDB or Prometheus.
package message

import "strings"

// Kind is the JSON type of a parameter value.
type Kind uint8

// The JSON kinds a parameter value can have.
const (
	Null Kind = iota
	Number
	String
	Bool
	Array
	Object
)

var kindNames = [...]string{"null", "number", "string", "boolean", "array", "object"}

// String returns the JSON name of the kind ("number", "string", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Param is one parameter of a message.
//
// Raw holds the value's text: a number literal as sent ("1508508510.013227"),
// a string already unescaped, "true" or "false", or the compact-as-sent JSON
// of an array or object. Raw is empty for null.
type Param struct {
	Name string
	Raw  []byte
	// ID numbers the name within the decoder that read it (from 1; 0 when
	// it has none), so that a reader can cache what it makes of a name in a
	// slice instead of a map. IDs of different decoders differ in
	// Message.Names.
	ID   int32
	Kind Kind // after ID: no padding

	// The decoder reads a number's digits while it checks its grammar:
	// when state is shortDecimal, mant holds them as an integer and scale
	// says how many follow the point, plus negScale when a '-' precedes
	// them, so that ShortDecimal, Int and Time need not read the text again.
	state numState
	scale uint8
	mant  uint64
}

// numState says what the decoder found of a Number's value.
type numState uint8

const (
	numUnread    numState = iota // not read: a Param made by hand
	shortDecimal                 // mant and scale hold the value
	longNumber                   // not a short decimal: parse Raw
)

// Bool reports the value of a Bool parameter.
func (p *Param) Bool() bool { return p.Kind == Bool && len(p.Raw) == 4 }

// Message is one decoded flespi message: its parameters in the order they
// were sent, and the message's JSON text as it stood in the body (kept for
// dead letters).
type Message struct {
	Params []Param
	Raw    []byte
	// Names identifies the decoder whose Param IDs these are.
	Names uint64
	// Repeats is true when a parameter name may occur twice in the message
	// ("ain#1" and "ain.1", or a key written twice).
	Repeats bool
	// Seq numbers the messages of the decoder (it wraps), and SameKeys
	// says the message has the keys of the one before, in the same order:
	// messages of one device type do, and a reader can keep what it made
	// of the keys.
	Seq      uint32
	SameKeys bool
}

// Span is where the message lies in body, the body Decode was given: its
// first byte ('{') and the byte after its last ('}'). A source that joins
// messages of its own into one body (MQTT) checks with it that each stays
// within its own part.
func (m *Message) Span(body []byte) (start, end int) {
	// Raw is body[start:end]: the capacity left after it tells start.
	start = cap(body) - cap(m.Raw)
	return start, start + len(m.Raw)
}

// Get returns the parameter with the given name, or nil. When a name occurs
// twice the last one wins, as in a JSON object decoded by most readers.
func (m *Message) Get(name string) *Param {
	for i := len(m.Params) - 1; i >= 0; i-- {
		if m.Params[i].Name == name {
			return &m.Params[i]
		}
	}
	return nil
}

// NormalizeName rewrites the old index syntax of flespi parameter names to the
// current one: "ain#1" becomes "ain.1". Names without '#' are returned as they
// are, without allocating.
func NormalizeName(name string) string {
	if strings.IndexByte(name, '#') < 0 {
		return name
	}
	return strings.ReplaceAll(name, "#", ".")
}
