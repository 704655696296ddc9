package mapping_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		rules string
		want  string
	}{
		{`rule = [{type = "float"}]`, `[[rule]] #1 match: every rule needs match (a name or glob) or regex`},
		{`rule = [{match = "a", regex = "b"}]`, `[[rule]] #1 match: give either match or regex, not both`},
		{`rule = [{regex = "a("}]`, `[[rule]] #1 regex: 'a(' is not a valid regular expression: missing closing )`},
		{`rule = [{match = "a..b"}]`, `[[rule]] #1 match: "a..b" has an empty segment (two dots, or a dot at an end)`},
		{`rule = [{match = "a.b**"}]`, `[[rule]] #1 match: glob "a.b**": '**' must be a whole segment, like a.**.b`},
		{`rule = [{match = "a", type = "number"}]`, `[[rule]] #1 type: want one of float, integer, boolean, string, json; got "number"`},
		{`rule = [{match = "a", unit = "furlongs"}]`, `[[rule]] #1 unit: unknown unit "furlongs"; known: `},
		{`rule = [{match = "a", type = "string", prometheus = true}]`, `[[rule]] #1 prometheus: a string value cannot be a gauge; only float, integer and boolean can`},
		{`rule = [{match = "a", type = "boolean", scale = 2.0}]`, `[[rule]] #1 scale: applies to numbers; this rule's type is boolean`},
		{`rule = [{match = "a", type = "integer", scale = 0.5}]`, `[[rule]] #1 scale: an integer rule needs a whole scale and offset; use type = "float" for 0.5 and 0`},
		{`rule = [{match = "a", drop = true, unit = "volts"}]`, `[[rule]] #1 unit: a rule with drop = true produces nothing, so unit has no effect; remove it or drop = true`},
		{`rule = [{match = "a.*", labels = { s = "$2" }}]`, `[[rule]] #1 labels.s: "$2" refers to $2, but the pattern "a.*" has 1 capture(s)`},
		{`rule = [{match = "a.*", field = "$1x"}]`, `[[rule]] #1 field: "$1x" refers to ${1x}, but the pattern "a.*" has no capture of that name (write ${1} before letters: $1x means ${1x})`},
		{`rule = [{match = "a.*", labels = { "bad-name" = "$1" }}]`, `[[rule]] #1 labels.bad-name: "bad-name" is not a valid Prometheus label name (letters, digits, '_'; not starting with "__")`},
		{`rule = [{match = "a", gauge = "a.b"}]`, `[[rule]] #1 gauge: "a.b" is not a valid Prometheus metric name: use letters, digits and '_' (like a_b)`},
		{`rule = [{match = "a", field = "time"}]`, `[[rule]] #1 field: "time" is reserved by InfluxDB (time, and names starting with '_'); pick another name`},
		{`rule = [{regex = "a.(b)", labels = { x = "$1" }}]`, `[[rule]] #1 gauge: a regex rule with labels must name its gauge (gauge = "...")`},
		{`rule = [{match = "a.*", labels = { ident = "$1" }}]`, `[[rule]] #1 labels.ident: "ident" is already set from the message`},
		{`rule = [{match = "x", type = "string"}, {match = "y", field = "x"}]`, `[[rule]] #2 field: field "x" of measurement "flespi" is a float here but a string in rule #1 (match = "x")`},
		{`rule = [{match = "driver", tag = "d", type = "string"}, {match = "d"}]`, `[[rule]] #2 field: "d" is also a tag of measurement "flespi" (made a tag by rule #1); a name must be a tag or a field, not both`},
		{`rule = [{match = "a.*", gauge = "t", labels = { s = "$1" }}, {match = "b", gauge = "t"}]`, `[[rule]] #2 labels: gauge flespi_t gets labels {ident} here but {ident,s} from rule #1 (match = "a.*"); one gauge must always have the same labels`},
		{"[mapping]\nunmatched = \"keep\"", `[mapping] unmatched: want "drop" or "raw", got "keep"`},
		{"[mapping]\ntags = [\"ident\"]", `[mapping] tags: ident is always a tag; list only other parameters`},
		{"[mapping]\ntime = [\"received\", \"timestamp\"]", `[mapping] time: "received" must be the last source: it is always there, so sources after it are never used`},
		{"[mapping]\ntags = [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]", `[mapping] tags: 9 tags given, at most 8 allowed: every tag multiplies the number of series`},
	}
	for _, tt := range tests {
		_, err := compileErr(tt.rules)
		var ce *mapping.ConfigError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s:\n got  %v\n want %s", tt.rules, err, tt.want)
		}
	}
}

func TestCompileReportsEveryError(t *testing.T) {
	_, err := compileErr(`rule = [{match = "a", type = "x"}, {regex = "("}, {match = "b"}]`)
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Fatalf("want two errors, one per line, got:\n%v", err)
	}
}

func TestWarnings(t *testing.T) {
	m := compile(t, `[[rule]]
match = "a.*"
[[rule]]
match = "a.b"
[[rule]]
match = "a.*"
[[rule]]
match = "**.status"
[[rule]]
match = "x.y.status"
[[rule]]
match = "c.*"
prometheus = false
influx = false
[[rule]]
match = "driver.code"
tag = "driver"
[mapping]
tags = ["peer"]`)
	var got []string
	for _, w := range m.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`[mapping] tags: "peer" changes with almost every message: as a tag it makes a new series each time; keep it a field`,
		`[[rule]] #2 match: never matches: rule #1 (match = "a.*") above it matches every name this one does; the first match wins`,
		`[[rule]] #3 match: never matches: rule #1 (match = "a.*") above it matches every name this one does; the first match wins`,
		`[[rule]] #5 match: never matches: rule #4 (match = "**.status") above it matches every name this one does; the first match wins`,
		`[[rule]] #6 match: the rule has no output (no InfluxDB field, no gauge); write drop = true if that is meant`,
		`[[rule]] #7 tag: a float value as a tag makes a new series for every distinct value; use type = "string" or "integer" for codes and names, or keep it a field`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRegexShadowed: a rule an earlier one leaves nothing to match is
// found whether either is a glob or a regex: the shipped glob above an
// operator's regex for the same sensors; a regex that also matches names
// the glob does not take is left alone.
func TestRegexShadowed(t *testing.T) {
	m := compile(t, `[[rule]]
match = "ble.sensor.temperature.*"
[[rule]]
regex = 'ble\.sensor\.temperature\.(\d+)'
[[rule]]
regex = 'ble\.sensor\.(temperature|humidity)\.(\d+)'
[[rule]]
regex = 'can\.(.*)'
[[rule]]
match = "can.fuel.level"
[[rule]]
regex = 'can\.engine\.(rpm|load)'
[[rule]]
regex = 'x\.[ab]\d{2,}'
[[rule]]
match = "x.a*"`)
	var got []string
	for _, w := range m.Warnings() {
		got = append(got, w.Error())
	}
	want := []string{
		`[[rule]] #2 regex: never matches: rule #1 (match = "ble.sensor.temperature.*") above it matches every name this one does; the first match wins`,
		`[[rule]] #5 match: never matches: rule #4 (regex = 'can\.(.*)') above it matches every name this one does; the first match wins`,
		`[[rule]] #6 regex: never matches: rule #4 (regex = 'can\.(.*)') above it matches every name this one does; the first match wins`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSamplesCarryTTLAndHelp(t *testing.T) {
	m := compile(t, `[[rule]]
match = "a"
ttl = "5m"
help = "A."
[[rule]]
match = "b"
ttl = "never"
[[rule]]
match = "c"
unit = "volts"`)
	msg := decodeOne(t, `{"ident":"x","a":1,"b":2,"c":3}`)
	var r mapping.Result
	if err := m.Apply(msg, received, &r); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %q %v|%s %v|%s %q %v", r.Samples[0].Name, r.Samples[0].Help, r.Samples[0].TTL,
		r.Samples[1].Name, r.Samples[1].TTL, r.Samples[2].Name, r.Samples[2].Help, r.Samples[2].TTL)
	want := `flespi_a "A." 5m0s|flespi_b 0s|flespi_c_volts "flespi parameter c (volts in flespi)" 1h0m0s`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestReservedGaugeNames: a rule cannot make a gauge that /metrics already
// has (the exporter's own metrics and the device gauges), neither by name
// at compile time nor by a template at run time.
func TestReservedGaugeNames(t *testing.T) {
	for _, rules := range []string{
		`rule = [{match = "x", gauge = "exporter_requests_total"}]`,
		`rule = [{match = "device.last.message.timestamp", unit = "seconds"}]`,
		`rule = [{match = "a", gauge = "device_last_received_timestamp_seconds"}]`,
	} {
		_, err := compileErr(rules)
		if err == nil || !strings.Contains(err.Error(), "is a name of the exporter's own") {
			t.Errorf("%s: got %v, want a reserved-name error", rules, err)
		}
	}
	m := compile(t, `rule = [{match = "**"}]`)
	got := mapText(t, m, `{"ident":"a","timestamp":1717171200,"exporter.points.written.total":5,"speed":3}`)
	if !strings.Contains(got, "skipped exporter.points.written.total: reserved_gauge_name") ||
		strings.Contains(got, "flespi_exporter_points_written_total{") || !strings.Contains(got, `flespi_speed{ident="a"} 3`) {
		t.Errorf("a template that makes a reserved name:\n%s", got)
	}
	last, received := m.DeviceGauges()
	if last.Name != "flespi_device_last_message_timestamp_seconds" || received.Name != "flespi_device_last_received_timestamp_seconds" {
		t.Errorf("device gauges %q %q", last.Name, received.Name)
	}
}

// TestUnitsExact: conversions to base units are exact where the decimal
// is: 94 % is 0.94 (not 0.9400000000000001), 1500 ms 1.5 s, 63 km/h
// 17.5 m/s.
func TestUnitsExact(t *testing.T) {
	m := compile(t, `rule = [{match = "p", unit = "percent"}, {match = "ms", unit = "ms"}, {match = "v", unit = "km/h"}, {match = "mv", unit = "mV"}]`)
	got := mapText(t, m, `{"ident":"a","timestamp":1717171200,"p":94,"ms":1500,"v":63,"mv":12640}`)
	for _, want := range []string{`flespi_p_ratio{ident="a"} 0.94` + "\n", `flespi_ms_seconds{ident="a"} 1.5` + "\n",
		`flespi_v_meters_per_second{ident="a"} 17.5` + "\n", `flespi_mv_volts{ident="a"} 12.64` + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
}

// TestTypeConflicts: a rule that would write a field InfluxDB holds with
// another type is named, exact and template fields alike.
func TestTypeConflicts(t *testing.T) {
	m := compile(t, `rule = [{match = "gsm.mcc", type = "integer"}, {match = "can.*.level"}, {match = "ok", type = "string"}]`)
	held := map[string]map[string]string{"flespi": {"gsm.mcc": "string", "can.fuel.level": "integer", "can.x.level": "float", "ok": "string"}}
	var got []string
	for _, e := range m.TypeConflicts(held) {
		got = append(got, e.Error())
	}
	want := []string{
		`[[rule]] #1 type: writes gsm.mcc of measurement "flespi" as integer, but InfluxDB holds it as string: its values will be refused (and dead-lettered); give the rule a new field name, or type = "string"`,
		`[[rule]] #2 type: writes can.fuel.level of measurement "flespi" as float, but InfluxDB holds it as integer: its values will be refused (and dead-lettered); give the rule a new field name, or type = "integer"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ms := m.Measurements(); len(ms) != 1 || ms[0] != "flespi" {
		t.Errorf("measurements %v", ms)
	}
}
