package mapping

import (
	"strings"

	"github.com/flespi-exporter/flespi-exporter/internal/bytesview"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// coerce turns a parameter value into a value of the rule's type, in v
// (a pointer: the Value is copied once, into its field), or returns why not.
func (ru *rule) coerce(p *message.Param, v *Value) string {
	switch p.Kind {
	case message.Null:
		return SkipNull
	case message.Array, message.Object:
		if ru.typ != TypeJSON {
			return SkipUnsupported
		}
	}
	switch ru.typ {
	case TypeString, TypeJSON:
		*v = Value{Type: ru.typ, Str: bytesview.String(p.Raw)}
		return ""
	case TypeBoolean:
		return ru.boolean(p, v)
	case TypeInteger:
		return ru.integer(p, v)
	}
	if ru.scale == 1 && ru.offset == 0 {
		if f, ok := p.ShortDecimal(); ok {
			// The text is the value: no need to format the float again.
			*v = Value{Type: TypeFloat, Float: f, Literal: bytesview.String(p.Raw)}
			return ""
		}
	}
	f, reason := ru.number(p)
	if reason != "" {
		return reason
	}
	*v = Value{Type: TypeFloat, Float: f}
	if p.Kind == message.Number && ru.scale == 1 && ru.offset == 0 && !hasExponent(p.Raw) {
		// A longer decimal, like a timestamp with microseconds: InfluxDB
		// reads the text as the same float.
		v.Literal = bytesview.String(p.Raw)
	}
	return ""
}

// hasExponent reports whether a JSON number is written with an exponent.
func hasExponent(b []byte) bool {
	for _, c := range b {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

func (ru *rule) boolean(p *message.Param, v *Value) string {
	switch p.Kind {
	case message.Bool:
		*v = Value{Type: TypeBoolean, Bool: p.Bool()}
		return ""
	case message.Number:
		f, ok := p.Float()
		if !ok {
			return SkipUncoercible
		}
		*v = Value{Type: TypeBoolean, Bool: f != 0}
		return ""
	}
	switch strings.ToLower(string(p.Raw)) {
	case "true", "1", "on", "yes":
		*v = Value{Type: TypeBoolean, Bool: true}
		return ""
	case "false", "0", "off", "no":
		*v = Value{Type: TypeBoolean}
		return ""
	}
	return SkipUncoercible
}

func (ru *rule) integer(p *message.Param, v *Value) string {
	if p.Kind == message.Number && ru.scale == 1 && ru.offset == 0 {
		// Exact for integers past 2^53, which a float64 would round.
		if i, ok := p.Int(); ok {
			*v = Value{Type: TypeInteger, Int: i}
			if i != 0 || len(p.Raw) == 1 { // JSON has no leading zeros; "-0" is 0
				v.Literal = bytesview.String(p.Raw) // the digits as line protocol writes them
			}
			return ""
		}
	}
	f, reason := ru.number(p)
	if reason != "" {
		return reason
	}
	if f != float64(int64(f)) || f < -9.2e18 || f > 9.2e18 {
		return SkipNotInteger
	}
	*v = Value{Type: TypeInteger, Int: int64(f)}
	return ""
}

// number returns the scaled numeric value of a parameter.
func (ru *rule) number(p *message.Param) (float64, string) {
	var f float64
	switch p.Kind {
	case message.Number:
		var ok bool
		if f, ok = p.Float(); !ok {
			return 0, SkipNotFinite
		}
	case message.Bool:
		if p.Bool() {
			f = 1
		}
	case message.String:
		var reason string
		if f, reason = ru.stringNumber(p.Raw); reason != "" {
			return 0, reason
		}
	}
	f = f*ru.scale + ru.offset
	if f-f != 0 { // NaN or ±Inf: line protocol and most readers reject them
		return 0, SkipNotFinite
	}
	return f, ""
}

// stringNumber reads a string value through the enum table, as a decimal,
// or as the enum default, in that order.
func (ru *rule) stringNumber(raw []byte) (float64, string) {
	if v, ok := ru.enum[string(raw)]; ok {
		return v, ""
	}
	p := message.Param{Kind: message.Number, Raw: []byte(strings.TrimSpace(string(raw)))}
	if f, ok := p.Float(); ok {
		return f, ""
	}
	if ru.enumDefault != nil {
		return *ru.enumDefault, ""
	}
	return 0, SkipUncoercible
}
