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
	b = appendEscaped(b, p.Measurement, false)
	for _, t := range p.Tags {
		if strings.TrimRight(t.Value, `\`) == "" || strings.TrimRight(t.Key, `\`) == "" {
			continue // not writable; InfluxDB has no empty tags
		}
		b = append(b, ',')
		b = appendEscaped(b, t.Key, true)
		b = append(b, '=')
		b = appendEscaped(b, t.Value, true)
	}
	for i, f := range p.Fields {
		if i == 0 {
			b = append(b, ' ')
		} else {
			b = append(b, ',')
		}
		b = appendEscaped(b, f.Key, true)
		b = append(b, '=')
		b = f.Value.appendLineProtocol(b)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, p.Time.UnixNano(), 10)
	return append(b, '\n')
}

func (v Value) appendLineProtocol(b []byte) []byte {
	switch v.Type {
	case TypeFloat:
		return strconv.AppendFloat(b, v.Float, 'f', -1, 64)
	case TypeInteger:
		return append(strconv.AppendInt(b, v.Int, 10), 'i')
	case TypeBoolean:
		return strconv.AppendBool(b, v.Bool)
	}
	b = append(b, '"')
	for i := 0; i < len(v.Str); i++ {
		switch c := v.Str[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendEscaped writes a measurement (key=false) or a tag key, tag value or
// field key (key=true).
func appendEscaped(b []byte, s string, key bool) []byte {
	s = strings.TrimRight(s, `\`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', ',':
			b = append(b, '\\', c)
		case '=':
			if key {
				b = append(b, '\\')
			}
			b = append(b, c)
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func formatInt(i int64) string { return strconv.FormatInt(i, 10) }

// AppendText appends the sample as a line of the Prometheus text format, as
// /metrics shows it (without a timestamp).
func (s *Sample) AppendText(b []byte) []byte {
	b = append(b, s.Name...)
	b = append(b, '{')
	for i, l := range s.Labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, '=', '"')
		for j := 0; j < len(l.Value); j++ {
			switch c := l.Value[j]; c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			default:
				b = append(b, c)
			}
		}
		b = append(b, '"')
	}
	b = append(b, '}', ' ')
	b = strconv.AppendFloat(b, s.Value, 'g', -1, 64)
	return append(b, '\n')
}
