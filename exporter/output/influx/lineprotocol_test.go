package influx_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// TestLineProtocolMatchesClient encodes awkward points with our encoder and
// with the one the InfluxDB client uses on the wire (influxdata/line-protocol,
// set up as the client's write service sets it up): they must agree byte for
// byte.
func TestLineProtocolMatchesClient(t *testing.T) {
	at := time.Unix(1729132792, 719063000)
	names := []string{"plain", "with space", "comma,here", "eq=sign", "tab\there", "new\nline", `back\slash`, "ünï", `"quoted"`}
	values := []mapping.Value{
		{Type: mapping.TypeFloat, Float: 12.64}, {Type: mapping.TypeFloat, Float: -0.000001},
		{Type: mapping.TypeFloat, Float: 1e21}, {Type: mapping.TypeFloat, Float: 27793898},
		{Type: mapping.TypeInteger, Int: math.MinInt64}, {Type: mapping.TypeBoolean, Bool: true},
		{Type: mapping.TypeString, Str: `say "hi" \ and` + "\n\t\r\f"}, {Type: mapping.TypeString, Str: ""},
	}
	for i, name := range names {
		p := mapping.Point{
			Measurement: name,
			Tags:        sortedTags(mapping.Tag{Key: "ident", Value: name}, mapping.Tag{Key: name, Value: "v"}),
			Time:        at,
		}
		fields := map[string]any{}
		for j, v := range values {
			key := fmt.Sprintf("%s%d", name, j)
			p.Fields = append(p.Fields, mapping.Field{Key: key, Value: v})
			fields[key] = clientValue(v)
		}
		tags := map[string]string{}
		for _, tg := range p.Tags {
			tags[tg.Key] = tg.Value
		}
		got := string(influx.AppendPoint(nil, &p))
		want := clientLine(t, write.NewPoint(name, tags, fields, at))
		// The client sorts fields by key; compare field sets.
		if sortFields(got) != sortFields(want) {
			t.Errorf("point %d:\n got  %q\n want %q", i, got, want)
		}
	}
}

func sortedTags(a, b mapping.Tag) []mapping.Tag {
	if b.Key < a.Key {
		a, b = b, a
	}
	return []mapping.Tag{a, b}
}

func clientLine(t *testing.T, p *write.Point) string {
	var buf bytes.Buffer
	e := lp.NewEncoder(&buf)
	e.SetFieldTypeSupport(lp.UintSupport)
	e.FailOnFieldErr(true)
	e.SetPrecision(time.Nanosecond)
	if _, err := e.Encode(p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func clientValue(v mapping.Value) any {
	switch v.Type {
	case mapping.TypeFloat:
		return v.Float
	case mapping.TypeInteger:
		return v.Int
	case mapping.TypeBoolean:
		return v.Bool
	}
	return v.Str
}

// sortFields puts the fields of a line in key order, splitting on the
// unescaped commas between them (no field value here contains ",").
func sortFields(line string) string {
	parts := splitUnescaped(strings.TrimSuffix(line, "\n"), ' ')
	if len(parts) != 3 {
		return line
	}
	fields := splitUnescaped(parts[1], ',')
	for i := 1; i < len(fields); i++ {
		for j := i; j > 0 && fields[j] < fields[j-1]; j-- {
			fields[j], fields[j-1] = fields[j-1], fields[j]
		}
	}
	return parts[0] + " " + strings.Join(fields, ",") + " " + parts[2]
}

// splitUnescaped splits s at sep where it is not escaped or inside quotes.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// defaultMapping compiles the rules of the repository's config.toml.
// TestNamesWithBackslashes: what the client's encoder cannot write.
// InfluxDB refuses a name ending in a backslash (it escapes the separator
// after it) and a field key with a backslash before an escaped byte; the
// first is written with U+FF3C for its trailing backslashes, the second
// with that backslash doubled. Tags with a backslash before an escaped
// byte are written as the client writes them (InfluxDB stores them as
// sent: e2e TestBackslashesInNames).
func TestNamesWithBackslashes(t *testing.T) {
	at := time.Unix(1717171200, 0)
	for _, c := range []struct {
		ident, field, want string
	}{
		{`tr\`, "v", "m,ident=tr\uff3c v=1 1717171200000000000\n"},
		{`\`, "v", "m,ident=\uff3c v=1 1717171200000000000\n"},
		{`a\ b`, "v", `m,ident=a\\ b v=1 1717171200000000000` + "\n"},
		{"a", `x\ y`, `m,ident=a x\\\ y=1 1717171200000000000` + "\n"},
		{"a", `x\,y`, `m,ident=a x\\\,y=1 1717171200000000000` + "\n"},
		{"a", `z\\`, "m,ident=a z\uff3c\uff3c=1 1717171200000000000\n"},
		{"a", `p\q`, `m,ident=a p\q=1 1717171200000000000` + "\n"},
	} {
		p := mapping.Point{Measurement: "m", Tags: []mapping.Tag{{Key: "ident", Value: c.ident}},
			Fields: []mapping.Field{{Key: c.field, Value: mapping.Value{Type: mapping.TypeFloat, Float: 1}}}, Time: at}
		if got := string(influx.AppendPoint(nil, &p)); got != c.want {
			t.Errorf("ident %q field %q:\n got  %q\n want %q", c.ident, c.field, got, c.want)
		}
	}
}

// TestSeriesKeptPerDevice: Lines write a device's measurement and tags
// once and take them as they are while its messages repeat them; a
// renamed device, and a tag of a parameter's value whose body was reused
// for other text meanwhile, are written as the new message has them.
func TestSeriesKeptPerDevice(t *testing.T) {
	cfg := mapping.DefaultConfig()
	cfg.Tags = []string{"device.name"}
	m, err := mapping.Compile(cfg, []mapping.Rule{{Match: "driver", Tag: "driver", Type: "string"}, {Match: "v", Type: "integer"}})
	if err != nil {
		t.Fatal(err)
	}
	var r mapping.Result
	var l influx.Lines
	dec := message.NewDecoder()
	add := func(body []byte) string {
		t.Helper()
		start := len(l.Text)
		err := dec.Decode(body, func(msg *message.Message) error {
			if err := m.Apply(msg, time.Now(), &r); err != nil {
				return err
			}
			l.Add(msg, &r, time.Now())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(l.Text[start:])
	}
	first := []byte(`[{"ident":"a","timestamp":1,"device.name":"truck","driver":"ann","v":1}]`)
	want := "flespi,device_name=truck,driver=ann,ident=a v=1i 1000000000\n"
	if got := add(first); got != want {
		t.Fatalf("first message: %q, want %q", got, want)
	}
	copy(first, `[{"ident":"a","timestamp":1,"device.name":"truck","driver":"bob","v":1}]`) // the body's buffer reused
	want = "flespi,device_name=truck,driver=bob,ident=a v=2i 2000000000\n"
	if got := add([]byte(`[{"ident":"a","timestamp":2,"device.name":"truck","driver":"bob","v":2}]`)); got != want {
		t.Errorf("a new driver, the old one's body reused: %q, want %q", got, want)
	}
	want = "flespi,device_name=lorry,driver=bob,ident=a v=3i 3000000000\n"
	if got := add([]byte(`[{"ident":"a","timestamp":3,"device.name":"lorry","driver":"bob","v":3}]`)); got != want {
		t.Errorf("renamed: %q, want %q", got, want)
	}
}
