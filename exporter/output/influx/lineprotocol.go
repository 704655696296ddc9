package influx

import (
	"strconv"
	"strings"

	"github.com/flespi-exporter/flespi-exporter/internal/escape"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// AppendPoint appends the point as one line of InfluxDB line protocol,
// with a nanosecond timestamp and a trailing newline. Escaping follows the
// InfluxDB client (influxdata/line-protocol): tabs, newlines, spaces, commas
// and '=' in names; quotes and backslashes in string fields. Two cases that
// encoder cannot write are written so that InfluxDB accepts the line and
// keeps names apart (see appendName and appendFieldKey).
func AppendPoint(b []byte, p *mapping.Point) []byte {
	return appendFields(appendSeries(b, p), p)
}

// appendSeries writes the point's measurement and tags.
func appendSeries(b []byte, p *mapping.Point) []byte {
	b = appendName(b, p.Measurement, &measurementEscapes)
	for _, t := range p.Tags {
		if t.Value == "" || t.Key == "" {
			continue // InfluxDB has no empty tags
		}
		b = append(b, ',')
		b = appendName(b, t.Key, &keyEscapes)
		b = append(b, '=')
		b = appendName(b, t.Value, &keyEscapes)
	}
	return b
}

// appendFields writes the rest of the point's line after its series: the
// fields, the time and the newline.
func appendFields(b []byte, p *mapping.Point) []byte {
	sep := byte(' ')
	for i := range p.Fields {
		f := &p.Fields[i]
		b = append(b, sep)
		if f.Plain {
			b = append(b, f.Key...)
		} else {
			b = appendFieldKey(b, f.Key)
		}
		b = append(b, '=')
		sep = ','
		b = appendValue(b, &f.Value)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time.UnixNano(), 10)
	return append(b, '\n')
}

func appendValue(b []byte, v *mapping.Value) []byte {
	switch v.Type {
	case mapping.TypeFloat:
		if v.Literal != "" {
			return append(b, v.Literal...)
		}
		return strconv.AppendFloat(b, v.Float, 'f', -1, 64)
	case mapping.TypeInteger:
		if v.Literal != "" {
			return append(append(b, v.Literal...), 'i')
		}
		return append(strconv.AppendInt(b, v.Int, 10), 'i')
	case mapping.TypeBoolean:
		return strconv.AppendBool(b, v.Bool)
	}
	b = append(b, '"')
	b = escape.Append(b, v.Str, &stringEscapes)
	return append(b, '"')
}

// newEscapes is the table of line protocol's escapes of special.
func newEscapes(special string) (e escape.Table) {
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

// appendName writes a measurement, tag key or tag value. A backslash
// before a special byte is written as it is ("a\\ b" for a\ b), which
// InfluxDB stores as sent. A trailing backslash can never be written: it
// would escape the separator after it (InfluxDB refuses the line, and the
// official encoders refuse the name). Removing it merged device tr\ with
// device tr, and made an ident of \ no tag at all; each trailing backslash
// is written as U+FF3C instead (＼, a fullwidth backslash): the name stays
// apart, and reads the same.
func appendName(b []byte, s string, e *escape.Table) []byte {
	body := strings.TrimRight(s, `\`)
	b = escape.Append(b, body, e)
	for range len(s) - len(body) {
		b = append(b, trailingBackslash...)
	}
	return b
}

// trailingBackslash stands for a backslash at the end of a name.
const trailingBackslash = "\uff3c"

// appendFieldKey writes a field key. InfluxDB 1.8 and 2.x read field keys
// unlike tags: a backslash before an escaped ',', '=' or ' ' makes them
// refuse the line, so such a backslash is doubled (the key is then stored
// with two backslashes there, which keeps it apart and readable).
func appendFieldKey(b []byte, s string) []byte {
	body := strings.TrimRight(s, `\`)
	start := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		if x := keyEscapes[c]; x != 0 {
			b = append(b, body[start:i]...)
			if i > 0 && body[i-1] == '\\' && (c == ',' || c == '=' || c == ' ') {
				b = append(b, '\\')
			}
			b = append(b, '\\', x)
			start = i + 1
		}
	}
	b = append(b, body[start:]...)
	for range len(s) - len(body) {
		b = append(b, trailingBackslash...)
	}
	return b
}
