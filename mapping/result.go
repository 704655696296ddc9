package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors for messages that produce nothing.
var (
	ErrNoIdent = errors.New("message has no ident (a non-empty string)")
	// ErrIdentTooLong is an ident longer than MaxIdentLen: data, not a
	// device's name (60 KB ones grew the device registry by megabytes);
	// counted as a message without ident.
	ErrIdentTooLong = fmt.Errorf("%w of at most %d bytes", ErrNoIdent, MaxIdentLen)
	ErrNoTime       = errors.New("message has none of the timestamps [mapping].time names")
)

// Reasons a parameter value is skipped, as counted in Result.Skipped.
const (
	SkipNull          = "null"                // the value is null
	SkipUnsupported   = "unsupported_type"    // an array or object for a rule that is not type json
	SkipUncoercible   = "uncoercible"         // e.g. "abc" for a float rule
	SkipNotInteger    = "not_integer"         // 1.5 for an integer rule
	SkipNotFinite     = "not_finite"          // a value beyond float64 after scale
	SkipFieldConflict = "field_type_conflict" // the field name is used with another type
	SkipReservedName  = "reserved_gauge_name" // a gauge template made a name of the exporter's own
	SkipTimeRange     = "time_out_of_range"   // a time source InfluxDB cannot store (before 1677, after 2262)
	SkipFuture        = "future_time"         // the gauges of a message dated past mapping.max_future
	SkipNameTooLong   = "name_too_long"       // a parameter name longer than message.MaxNameLen
)

// SkipReasons lists every reason a value can be skipped for.
var SkipReasons = []string{SkipNull, SkipUnsupported, SkipUncoercible, SkipNotInteger, SkipNotFinite, SkipFieldConflict, SkipReservedName, SkipTimeRange, SkipFuture, SkipNameTooLong}

// Result is what Apply makes of one message. Pass the same Result to Apply
// again to reuse its memory: what it holds is only valid until then, and
// the text of string values (Value.Str, and tags a rule makes of a string
// parameter) only as long as the message is. Ident and Tags values made of
// the message's ident and [mapping].tags are strings of their own.
type Result struct {
	Ident string
	// Device is the ident's place for the state outputs keep by device:
	// the same Device for every message of the ident this Result maps.
	Device   *Device
	Time     time.Time
	Tags     []Tag // ident and the [mapping].tags of the message, sorted by key
	Points   []Point
	Samples  []Sample
	Unmapped []string // parameters no rule matched
	// UnmappedAt is the index in the message's Params of each Unmapped
	// name, for callers that look at their values.
	UnmappedAt []int
	Mapped     int // parameters a rule matched, drop rules included
	// Future says the message's time is past its arrival by more than
	// mapping.max_future: its points are made, its gauge samples are not
	// (Samples is empty), and its time must not count as the device's
	// newest.
	Future  bool
	Skipped []Skipped // values a rule matched but could not use
	Dropped int       // parameters dropped by a drop rule

	// Hits counts the parameters each rule matched, by rule index, over
	// every Apply since the caller last cleared it (Apply only adds): the
	// rule statistics of a whole batch without a pass of their own.
	Hits []int

	// NoPoints, set by the caller, skips everything InfluxDB would get:
	// with no InfluxDB output there is no point in making Points.
	NoPoints bool

	paramTags []paramTag
	devices   map[string]*deviceStrings // by ident; see device
	last      int                       // index in Points of the last field's point
	timeNanos int64                     // Time in Unix nanoseconds

	// For each parameter of the message its target; where the ident, each
	// [mapping].time source and each message tag are (-1: not there). They
	// are of the message Seq, and still good for the next one when it has
	// the same keys (resolved says they are of the current owner).
	targets       []*target
	seq           uint32
	resolved      bool
	identAt       int
	timeAt, tagAt []int

	// byID caches the targets of the parameter names of one decoder
	// (names), by Param.ID, for one Mapping (owner).
	byID    []*target
	names   uint64
	owner   *Mapping
	repeats bool // the message may repeat a parameter name
}

// Point is one InfluxDB point.
type Point struct {
	Measurement string
	Tags        []Tag // sorted by key
	Fields      []Field
	Time        time.Time

	extra []Tag // the rule tags that set this point apart
	// search is set once a field may share its key with another: then each
	// new field looks for an old one of its key to replace.
	search bool
}

// Tag is an InfluxDB tag.
type Tag struct{ Key, Value string }

// Field is an InfluxDB field.
type Field struct {
	Key   string
	Value Value
	// Plain says that Key needs no escaping in any wire format (PlainName),
	// known when the rule was compiled: an encoder writes it as it is.
	Plain bool
}

// PlainName reports whether s is made of ASCII letters, digits, '.', '_'
// and '-' alone: a name no wire format escapes.
func PlainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// Value is a typed field value; Type says which member holds it.
type Value struct {
	Type  Type // TypeJSON values are strings
	Bool  bool // next to Type: the struct is copied for every field, so no padding
	Float float64
	Int   int64
	// Str is the text of a string or JSON value. It points into the
	// message, like Param.Raw, and is valid as long as the message is:
	// copy it (strings.Clone) to keep it.
	Str string

	// Literal is a float or integer as the message wrote it, when that is
	// its exact value written plainly (no scale, no offset, no exponent): an
	// encoder takes it as it is, which saves formatting the number again.
	// It points into the message, like Param.Raw, and is only read while
	// the Result is.
	Literal string
}

// Sample is the value of one gauge series. Its labels are the message's
// Tags (as labels: ident, and the [mapping].tags) and Labels, the rule's own.
type Sample struct {
	*Gauge // which series of the device; shared, never modify
	Value  float64
	// Time is the message time in Unix nanoseconds, to order late
	// messages (an int64: samples are copied by the thousand).
	Time int64
}

// Gauge is what the samples of one series share: a rule and parameter name
// make one Gauge, built once and pointed to by every sample, so that a
// sample is small to copy and two samples of one series are recognised by
// the pointer.
type Gauge struct {
	Name   string
	Help   string
	Labels []Label       // the rule's labels, sorted by name
	TTL    time.Duration // expiry without updates; 0 means never
}

// Label is a Prometheus label.
type Label struct{ Name, Value string }

// Skipped is a parameter value that was not used, and why.
type Skipped struct {
	Param  string
	Reason string
}

type paramTag struct {
	measurement string
	tag         Tag
}

// text is the value as a tag value.
func (v *Value) text() string {
	switch v.Type {
	case TypeFloat:
		return strconv.FormatFloat(v.Float, 'f', -1, 64)
	case TypeInteger:
		return strconv.FormatInt(v.Int, 10)
	case TypeBoolean:
		if v.Bool {
			return "true"
		}
		return "false"
	}
	return v.Str
}

// gaugeValue is the value as a gauge value; booleans are 0 and 1.
func (v *Value) gaugeValue() float64 {
	switch v.Type {
	case TypeInteger:
		return float64(v.Int)
	case TypeBoolean:
		if v.Bool {
			return 1
		}
		return 0
	}
	return v.Float
}
