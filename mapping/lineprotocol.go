package mapping

import (
	"strconv"
	"strings"
)

// AppendLineProtocol appends the point as one line of InfluxDB line protocol,
// with a nanosecond timestamp and a trailing newline. Escaping follows the
// InfluxDB client (influxdata/line-protocol): tabs, newlines, spaces, commas
// and '=' in names; quotes and backslashes in string fields. A trailing
// backslash in a name cannot be written, so it is removed.
func (p *Point) AppendLineProtocol(b []byte) []byte {
	b = appendName(b, p.Measurement, &measurementEscapes)
	for _, t := range p.Tags {
		if strings.TrimRight(t.Value, `\`) == "" || strings.TrimRight(t.Key, `\`) == "" {
			continue // not writable; InfluxDB has no empty tags
		}
		b = append(b, ',')
		b = appendName(b, t.Key, &keyEscapes)
		b = append(b, '=')
		b = appendName(b, t.Value, &keyEscapes)
	}
	sep := byte(' ')
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.escaped != "" {
			b = append(b, f.escaped...) // ",key="
			b[len(b)-len(f.escaped)] = sep
		} else {
			b = append(b, sep)
			b = appendName(b, f.Key, &keyEscapes)
			b = append(b, '=')
		}
		sep = ','
		b = f.Value.appendLineProtocol(b)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time.UnixNano(), 10)
	return append(b, '\n')
}

func (v *Value) appendLineProtocol(b []byte) []byte {
	switch v.Type {
	case TypeFloat:
		if v.decimal != "" {
			return append(b, v.decimal...)
		}
		return strconv.AppendFloat(b, v.Float, 'f', -1, 64)
	case TypeInteger:
		if v.decimal != "" {
			return append(append(b, v.decimal...), 'i')
		}
		return append(strconv.AppendInt(b, v.Int, 10), 'i')
	case TypeBoolean:
		return strconv.AppendBool(b, v.Bool)
	}
	b = append(b, '"')
	b = appendEscaped(b, v.Str, &stringEscapes)
	return append(b, '"')
}

// escapes maps a byte to the letter written after the backslash that
// escapes it; 0 means the byte is written as it is.
type escapes [256]byte

func newEscapes(special string) (e escapes) {
	for i := 0; i < len(special); i++ {
		e[special[i]] = special[i]
	}
	// Control characters are written as \t, \n, \f, \r, as the client does.
	e['\t'], e['\n'], e['\f'], e['\r'] = 't', 'n', 'f', 'r'
	return e
}

var (
	measurementEscapes = newEscapes(" ,")
	keyEscapes         = newEscapes(" ,=") // tag keys, tag values, field keys
	stringEscapes      = newEscapes(`"\`)  // string field values
)

// appendEscaped appends s with the bytes that e names escaped; runs of plain
// bytes are copied whole.
func appendEscaped(b []byte, s string, e *escapes) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if x := e[s[i]]; x != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', x)
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}

// appendName writes a measurement, tag or field key: a trailing backslash
// cannot be written in line protocol (it would escape the separator after
// it), so it is removed.
func appendName(b []byte, s string, e *escapes) []byte {
	return appendEscaped(b, strings.TrimRight(s, `\`), e)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }
