package gauges

import (
	"strconv"

	"github.com/flespi-exporter/flespi-exporter/internal/escape"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// The Prometheus text format (version 0.0.4) as /metrics and the map
// command write it. This is the one writer of label and help text in the
// module: the gauge store, the device registry and the map command use it.

var (
	// Label values escape only these three.
	labelEscapes = escape.Table{'\\': '\\', '"': '"', '\n': 'n'}
	// Help text escapes backslash and newline.
	helpEscapes = escape.Table{'\\': '\\', '\n': 'n'}
)

// AppendHelp appends help text, escaped for a # HELP line.
func AppendHelp(b []byte, help string) []byte {
	return escape.Append(b, help, &helpEscapes)
}

// AppendSeries appends one sample line, name{labels} value, without a
// timestamp. The labels are device's and own's merged in name order; both
// lists must be sorted by name.
func AppendSeries(b []byte, name string, device, own []mapping.Label, value float64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	i, j := 0, 0
	for i < len(device) || j < len(own) {
		var l *mapping.Label
		if j == len(own) || (i < len(device) && device[i].Name < own[j].Name) {
			l = &device[i]
			i++
		} else {
			l = &own[j]
			j++
		}
		if i+j > 1 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, '=', '"')
		b = escape.Append(b, l.Value, &labelEscapes)
		b = append(b, '"')
	}
	b = append(b, '}', ' ')
	b = strconv.AppendFloat(b, value, 'g', -1, 64)
	return append(b, '\n')
}

// AppendSample appends the sample as a line of the Prometheus text
// format, as /metrics shows it, with tags, the message's tags
// (Result.Tags), as labels besides its own.
func AppendSample(b []byte, s *mapping.Sample, tags []mapping.Tag) []byte {
	device := make([]mapping.Label, len(tags))
	for i, t := range tags {
		device[i] = mapping.Label{Name: t.Key, Value: t.Value}
	}
	return AppendSeries(b, s.Name, device, s.Labels, s.Value)
}
