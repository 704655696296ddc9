package influx

import (
	"bytes"
	"regexp"
	"strconv"
)

// conflict is what InfluxDB says of a field type conflict: the field, its
// measurement, the type the write had and the type InfluxDB holds.
type conflict struct {
	measurement, field string
	sent, held         string
}

// conflictRE reads InfluxDB 1.8's and 2.x's message, which both write as
// `field type conflict: input field "F" on measurement "M" is type T1,
// already exists as type T2`. The names are quoted Go-style.
var conflictRE = regexp.MustCompile(`input field ("(?:[^"\\]|\\.)*") on measurement ("(?:[^"\\]|\\.)*") is type (\w+), already exists as type (\w+)`)

// droppedRE reads how many points a partial write dropped.
var droppedRE = regexp.MustCompile(`dropped=(\d+)`)

// parseConflict finds a field type conflict in an error text, and how
// many points the write dropped (-1 when it does not say).
func parseConflict(msg string) (conflict, int, bool) {
	m := conflictRE.FindStringSubmatch(msg)
	if m == nil {
		return conflict{}, 0, false
	}
	field, err1 := strconv.Unquote(m[1])
	measurement, err2 := strconv.Unquote(m[2])
	if err1 != nil || err2 != nil {
		return conflict{}, 0, false
	}
	dropped := -1
	if d := droppedRE.FindStringSubmatch(msg); d != nil {
		dropped, _ = strconv.Atoi(d[1])
	}
	return conflict{measurement: measurement, field: field, sent: m[3], held: m[4]}, dropped, true
}

// lineField is one field of a line of line protocol: where it is and its
// key, unescaped.
type lineField struct {
	start, end int // the bytes of "key=value" in the line
	key        string
	typ        string // float, integer, boolean or string, as InfluxDB names them
}

// parseLine splits a line this package's encoder wrote (mapping's
// AppendLineProtocol) into its measurement, unescaped, and its fields. It
// reports false for a line it cannot read, which the caller then treats
// as a whole.
func parseLine(line []byte) (measurement string, fields []lineField, ok bool) {
	i := scanName(line, 0, ", ")
	if i >= len(line) {
		return "", nil, false
	}
	measurement = unescapeName(line[:i])
	for i < len(line) && line[i] == ',' { // tags
		i = scanName(line, i+1, " ")
	}
	if i >= len(line) || line[i] != ' ' {
		return "", nil, false
	}
	i++
	for {
		start := i
		k := scanName(line, i, "=")
		if k >= len(line) {
			return "", nil, false
		}
		v := k + 1
		end, typ := scanValue(line, v)
		if end < 0 {
			return "", nil, false
		}
		fields = append(fields, lineField{start: start, end: end, key: unescapeName(line[start:k]), typ: typ})
		if end >= len(line) || line[end] == ' ' {
			return measurement, fields, true
		}
		i = end + 1 // past the comma
	}
}

// scanName returns the index of the first of stop not escaped by a
// backslash, from i.
func scanName(line []byte, i int, stop string) int {
	for ; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\':
			i++
		case bytes.IndexByte([]byte(stop), c) >= 0:
			return i
		}
	}
	return i
}

// scanValue returns the end of the field value at i and its type; -1 for
// a value it cannot read.
func scanValue(line []byte, i int) (int, string) {
	if i < len(line) && line[i] == '"' {
		for j := i + 1; j < len(line); j++ {
			switch line[j] {
			case '\\':
				j++
			case '"':
				return j + 1, "string"
			}
		}
		return -1, ""
	}
	j := i
	for j < len(line) && line[j] != ',' && line[j] != ' ' {
		j++
	}
	switch v := line[i:j]; {
	case len(v) == 0:
		return -1, ""
	case v[len(v)-1] == 'i':
		return j, "integer"
	case string(v) == "true" || string(v) == "false":
		return j, "boolean"
	}
	return j, "float"
}

// controlEscapes are the control bytes the encoder writes as \t, \n, \r, \f.
var controlEscapes = [256]byte{'t': '\t', 'n': '\n', 'r': '\r', 'f': '\f'}

// unescapeName removes the backslashes the encoder put before escaped bytes.
func unescapeName(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
			switch c := b[i]; {
			case controlEscapes[c] != 0:
				out = append(out, controlEscapes[c])
				continue
			case c != ',' && c != '=' && c != ' ' && c != '\\':
				out = append(out, '\\') // not an escape: the backslash is the name's
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

// withoutField returns line without the field f (line ends with '\n'),
// and false when f was its only field: the point has nothing left.
func withoutField(line []byte, fields []lineField, f int) ([]byte, bool) {
	if len(fields) == 1 {
		return nil, false
	}
	start, end := fields[f].start, fields[f].end
	if f == len(fields)-1 {
		start-- // the comma before it
	} else {
		end++ // the comma after it
	}
	out := make([]byte, 0, len(line)-(end-start))
	out = append(out, line[:start]...)
	return append(out, line[end:]...), true
}
