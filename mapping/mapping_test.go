package mapping_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// received is the arrival time used in tests: 2024-06-01T00:00:00Z.
var received = time.Unix(1717200000, 0)

// compile builds a Mapping from the [mapping] section and [[rule]]s in TOML.
func compile(t testing.TB, rules string) *mapping.Mapping {
	t.Helper()
	m, err := compileErr(rules)
	if err != nil {
		t.Fatalf("compile:\n%v", err)
	}
	return m
}

func compileErr(rules string) (*mapping.Mapping, error) {
	file := struct {
		Mapping mapping.Config `toml:"mapping"`
		Rule    []mapping.Rule `toml:"rule"`
	}{Mapping: mapping.DefaultConfig()}
	if _, err := toml.Decode(rules, &file); err != nil {
		return nil, err
	}
	return mapping.Compile(file.Mapping, file.Rule)
}

// mapText applies m to each message of body and writes what comes out as
// line protocol, gauge samples, then skipped and unmapped parameters.
func mapText(t testing.TB, m *mapping.Mapping, body string) string {
	t.Helper()
	var b []byte
	var r mapping.Result
	err := message.NewDecoder().Decode([]byte(body), func(msg *message.Message) error {
		if err := m.Apply(msg, received, &r); err != nil {
			b = fmt.Appendf(b, "error: %v\n", err)
			return nil
		}
		for i := range r.Points {
			b = r.Points[i].AppendLineProtocol(b)
		}
		for i := range r.Samples {
			b = r.Samples[i].AppendText(b, r.Tags)
		}
		for _, s := range r.Skipped {
			b = fmt.Appendf(b, "skipped %s: %s\n", s.Param, s.Reason)
		}
		if len(r.Unmapped) > 0 {
			b = fmt.Appendf(b, "unmapped: %s\n", strings.Join(r.Unmapped, " "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The timestamp 1717171200.25 is 1717171200250000000 ns.
const ts = `"ident":"d1","timestamp":1717171200.25`

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		msg   string
		want  string
	}{{
		name:  "minimal rule: field under the parameter name, gauge in base units",
		rules: `rule = [{match = "position.speed", unit = "km/h"}]`,
		msg:   `{` + ts + `,"position.speed":36}`,
		want: "flespi,ident=d1 position.speed=36 1717171200250000000\n" +
			"flespi_position_speed_meters_per_second{ident=\"d1\"} 10\n",
	}, {
		name: "first match in file order wins",
		rules: `[[rule]]
match = "a.b"
type = "integer"
[[rule]]
match = "a.*"
prometheus = false`,
		msg:  `{` + ts + `,"a.b":2,"a.c":3}`,
		want: "flespi,ident=d1 a.b=2i,a.c=3 1717171200250000000\nflespi_a_b{ident=\"d1\"} 2\n",
	}, {
		name:  "* is one whole segment; unmatched parameters are listed",
		rules: `rule = [{match = "ain.*", prometheus = false}]`,
		msg:   `{` + ts + `,"ain.1":1,"ain.1.2":2,"ain":3,"xain.1":4}`,
		want:  "flespi,ident=d1 ain.1=1 1717171200250000000\nunmapped: ain.1.2 ain xain.1\n",
	}, {
		name:  "* inside a segment",
		rules: `rule = [{match = "can.*.temp*", prometheus = false}]`,
		msg:   `{` + ts + `,"can.engine.temperature":90,"can.engine.temp":91,"can.a.b.temperature":1}`,
		want:  "flespi,ident=d1 can.engine.temperature=90,can.engine.temp=91 1717171200250000000\nunmapped: can.a.b.temperature\n",
	}, {
		name:  "** is one or more segments",
		rules: `rule = [{match = "**.status", type = "boolean", influx = false}]`,
		msg:   `{` + ts + `,"engine.ignition.status":true,"gps.status":false,"status":true}`,
		want: "flespi_engine_ignition_status{ident=\"d1\"} 1\nflespi_gps_status{ident=\"d1\"} 0\n" +
			"unmapped: status\n",
	}, {
		name:  "regex is anchored to the whole name",
		rules: `rule = [{regex = 'gsm\.(mcc|mnc)', type = "integer", prometheus = false}]`,
		msg:   `{` + ts + `,"gsm.mcc":"257","gsm.mnc":1,"gsm.mcc.x":1,"x.gsm.mcc":1}`,
		want:  "flespi,ident=d1 gsm.mcc=257i,gsm.mnc=1i 1717171200250000000\nunmapped: gsm.mcc.x x.gsm.mcc\n",
	}, {
		name: "drop: no output and not unmapped",
		rules: `[[rule]]
match = "peer"
drop = true
[[rule]]
match = "x"`,
		msg:  `{` + ts + `,"peer":"1.2.3.4:5","x":1}`,
		want: "flespi,ident=d1 x=1 1717171200250000000\nflespi_x{ident=\"d1\"} 1\n",
	}, {
		name: "unmatched = raw keeps numbers and booleans as float fields",
		rules: `[mapping]
unmatched = "raw"`,
		msg:  `{` + ts + `,"a":1,"b":true,"c":"text","d":[1]}`,
		want: "flespi,ident=d1 a=1,b=1 1717171200250000000\nunmapped: a b c d\n",
	}, {
		name: "captures: labels make one gauge, tags split points, field templates",
		rules: `[[rule]]
match = "ble.sensor.temperature.*"
unit = "celsius"
labels = { sensor = "$1" }
[[rule]]
match = "ble.sensor.humidity.*"
field = "humidity"
tags = { sensor = "${1}" }
prometheus = false`,
		msg: `{` + ts + `,"ble.sensor.temperature.1":-18.2,"ble.sensor.temperature.2":4,` +
			`"ble.sensor.humidity.1":63,"ble.sensor.humidity.2":50}`,
		want: "flespi,ident=d1 ble.sensor.temperature.1=-18.2,ble.sensor.temperature.2=4 1717171200250000000\n" +
			"flespi,ident=d1,sensor=1 humidity=63 1717171200250000000\n" +
			"flespi,ident=d1,sensor=2 humidity=50 1717171200250000000\n" +
			"flespi_ble_sensor_temperature_celsius{ident=\"d1\",sensor=\"1\"} -18.2\n" +
			"flespi_ble_sensor_temperature_celsius{ident=\"d1\",sensor=\"2\"} 4\n",
	}, {
		name: "named regex captures and gauge templates",
		rules: `[[rule]]
regex = 'can\.(?P<part>[a-z]+)\.temperature'
gauge = "can_${part}_temperature"
field = "${part}_temp"
unit = "celsius"`,
		msg: `{` + ts + `,"can.engine.temperature":90}`,
		want: "flespi,ident=d1 engine_temp=90 1717171200250000000\n" +
			"flespi_can_engine_temperature_celsius{ident=\"d1\"} 90\n",
	}, {
		name: "targets: measurement, tag, InfluxDB only, gauge only",
		rules: `[[rule]]
match = "driver.id"
tag = "driver"
type = "string"
[[rule]]
match = "fuel"
measurement = "fuel"
prometheus = false
[[rule]]
match = "rpm"
influx = false
gauge = "engine_speed"
help = "Engine speed."
unit = "rpm"`,
		msg: `{` + ts + `,"driver.id":"D-7","fuel":55.5,"rpm":1650}`,
		want: "fuel,ident=d1 fuel=55.5 1717171200250000000\n" +
			"flespi_engine_speed_rpm{ident=\"d1\"} 1650\n",
	}, {
		name: "a tag lands on the points of its measurement",
		rules: `[[rule]]
match = "driver.id"
tag = "driver"
type = "string"
[[rule]]
match = "speed"`,
		msg:  `{` + ts + `,"speed":1,"driver.id":"D-7"}`,
		want: "flespi,driver=D-7,ident=d1 speed=1 1717171200250000000\nflespi_speed{ident=\"d1\"} 1\n",
	}, {
		name: "types: coercions and what cannot be coerced",
		rules: `[[rule]]
match = "i.*"
type = "integer"
prometheus = false
[[rule]]
match = "b.*"
type = "boolean"
[[rule]]
match = "s.*"
type = "string"
[[rule]]
match = "j.*"
type = "json"
[[rule]]
match = "f.*"
prometheus = false`,
		msg: `{` + ts + `,"i.str":"257","i.frac":1.5,"i.big":9007199254740993,"i.bool":true,"i.text":"x",` +
			`"b.num":2,"b.str":"off","b.bad":"maybe","s.num":1.50,"s.bool":false,"s.arr":[1],` +
			`"j.arr":[1,{"a":"b"}],"j.str":"q","f.str":" 12.5 ","f.arr":[1],"f.obj":{},"f.null":null}`,
		want: "flespi,ident=d1 i.str=257i,i.big=9007199254740993i,i.bool=1i,b.num=true,b.str=false," +
			`s.num="1.50",s.bool="false",j.arr="[1,{\"a\":\"b\"}]",j.str="q",f.str=12.5 1717171200250000000` + "\n" +
			"flespi_b_num{ident=\"d1\"} 1\nflespi_b_str{ident=\"d1\"} 0\n" +
			"skipped i.frac: not_integer\nskipped i.text: uncoercible\nskipped b.bad: uncoercible\n" +
			"skipped s.arr: unsupported_type\nskipped f.arr: unsupported_type\nskipped f.obj: unsupported_type\n" +
			"skipped f.null: null\n",
	}, {
		name: "enum table, default, scale and offset",
		rules: `[[rule]]
match = "state"
enum = { off = 0, on = 1 }
enum_default = -1
[[rule]]
match = "mode"
enum = { a = 10 }
[[rule]]
match = "raw.temp"
scale = 0.1
offset = -40
unit = "celsius"`,
		msg: `[{` + ts + `,"state":"on","mode":"a","raw.temp":650},` +
			`{` + ts + `,"state":"broken","mode":"b"}]`,
		want: "flespi,ident=d1 state=1,mode=10,raw.temp=25 1717171200250000000\n" +
			"flespi_state{ident=\"d1\"} 1\nflespi_mode{ident=\"d1\"} 10\nflespi_raw_temp_celsius{ident=\"d1\"} 25\n" +
			"flespi,ident=d1 state=-1 1717171200250000000\nflespi_state{ident=\"d1\"} -1\nskipped mode: uncoercible\n",
	}, {
		name:  "units convert gauges only; InfluxDB keeps the flespi value",
		rules: `rule = [{match = "m", unit = "km"}, {match = "p", unit = "percent"}, {match = "h", unit = "hours"}]`,
		msg:   `{` + ts + `,"m":1.5,"p":71,"h":2}`,
		want: "flespi,ident=d1 m=1.5,p=71,h=2 1717171200250000000\n" +
			"flespi_m_meters{ident=\"d1\"} 1500\nflespi_p_ratio{ident=\"d1\"} 0.71\nflespi_h_seconds{ident=\"d1\"} 7200\n",
	}, {
		name:  "old index syntax: ain#1 is ain.1",
		rules: `rule = [{match = "ain.*", labels = { input = "$1" }, unit = "volts"}, {match = "t#2"}]`,
		msg:   `{` + ts + `,"ain#1":0.4,"t.2":1}`,
		want: "flespi,ident=d1 ain.1=0.4,t.2=1 1717171200250000000\n" +
			"flespi_ain_volts{ident=\"d1\",input=\"1\"} 0.4\nflespi_t_2{ident=\"d1\"} 1\n",
	}, {
		name: "message tags: device.name on points and gauges, not a field",
		rules: `rule = [{match = "x"}]
[mapping]
tags = ["device.name", "channel.id"]`,
		msg: `{` + ts + `,"device.name":"truck 7, north","channel.id":5,"x":1}`,
		want: `flespi,channel_id=5,device_name=truck\ 7\,\ north,ident=d1 x=1 1717171200250000000` + "\n" +
			"flespi_x{channel_id=\"5\",device_name=\"truck 7, north\",ident=\"d1\"} 1\n",
	}, {
		name:  "time: exact microseconds, then server.timestamp, then received",
		rules: `rule = [{match = "x", prometheus = false}, {match = "server.timestamp", drop = true}]`,
		msg: `[{"ident":"a","timestamp":1508508510.013227,"x":1},{"ident":"a","server.timestamp":1729132792.719063,"x":2},` +
			`{"ident":"a","x":3},{"ident":"a","timestamp":"bad","x":4}]`,
		want: "flespi,ident=a x=1 1508508510013227000\nflespi,ident=a x=2 1729132792719063000\n" +
			"flespi,ident=a x=3 1717200000000000000\nflespi,ident=a x=4 1717200000000000000\n",
	}, {
		name: "time without received: a message without timestamp is an error",
		rules: `rule = [{match = "x"}]
[mapping]
time = ["timestamp"]`,
		msg:  `[{"ident":"a","x":1}]`,
		want: "error: " + mapping.ErrNoTime.Error() + "\n",
	}, {
		name:  "ident is required and never a field",
		rules: `rule = [{match = "x"}]`,
		msg:   `[{"x":1},{"ident":"","x":1},{"ident":5,"x":1},{"ident":"a","x":2}]`,
		want: strings.Repeat("error: "+mapping.ErrNoIdent.Error()+"\n", 3) +
			"flespi,ident=a x=2 1717200000000000000\nflespi_x{ident=\"a\"} 2\n",
	}, {
		name: "a templated or raw field never takes another type than a fixed one",
		rules: `[[rule]]
match = "label"
type = "string"
field = "other"
[[rule]]
match = "n*"
field = "ot$1"
prometheus = false
[mapping]
unmatched = "raw"`,
		msg: `{"ident":"a","label":"x","nher":1,"nil":2,"other":3}`,
		want: "flespi,ident=a other=\"x\",otil=2 1717200000000000000\nskipped nher: field_type_conflict\n" +
			"unmapped: other\n",
	}, {
		name:  "a name twice in a message (old and new index syntax, or a repeated key): the last value wins",
		rules: `rule = [{match = "ain.*", prometheus = false}, {match = "x", prometheus = false}]`,
		msg:   `[{"ident":"a","ain#1":1,"ain.1":2},{"ident":"a","x":5,"x":6},{"ident":"a","ain.1":3,"x":7}]`,
		want: "flespi,ident=a ain.1=2 1717200000000000000\nflespi,ident=a x=6 1717200000000000000\n" +
			"flespi,ident=a ain.1=3,x=7 1717200000000000000\n",
	}, {
		name:  "strings are escaped for line protocol",
		rules: `rule = [{match = "s", type = "string"}, {match = "k k,=", prometheus = false}]`,
		msg:   `{"ident":"a b","s":"say \"hi\"\\ \n","k k,=":1}`,
		want:  `flespi,ident=a\ b s="say \"hi\"\\ \n",k\ k\,\==1 1717200000000000000` + "\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapText(t, compile(t, tt.rules), tt.msg)
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

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

func decodeOne(t testing.TB, body string) *message.Message {
	t.Helper()
	var out message.Message
	err := message.NewDecoder().Decode([]byte(body), func(m *message.Message) error {
		out.Params = append(out.Params, m.Params...)
		for i := range out.Params {
			out.Params[i].Raw = append([]byte(nil), out.Params[i].Raw...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestResultReuse checks that a Result reused for another message holds
// nothing of the one before.
func TestResultReuse(t *testing.T) {
	m := compile(t, `rule = [{match = "a.*", tags = { n = "$1" }, prometheus = false}, {match = "b"}]`)
	first := mapText(t, m, `[{"ident":"x","a.1":1,"a.2":2,"b":3},{"ident":"y","b":4}]`)
	want := "flespi,ident=x,n=1 a.1=1 1717200000000000000\nflespi,ident=x,n=2 a.2=2 1717200000000000000\n" +
		"flespi,ident=x b=3 1717200000000000000\nflespi_b{ident=\"x\"} 3\n" +
		"flespi,ident=y b=4 1717200000000000000\nflespi_b{ident=\"y\"} 4\n"
	if first != want {
		t.Errorf("got:\n%s\nwant:\n%s", first, want)
	}
}

// TestConcurrentApply shares one Mapping between goroutines, as the
// receiver does; run with -race.
func TestConcurrentApply(t *testing.T) {
	m := compile(t, `rule = [{match = "ble.sensor.temperature.*", labels = { sensor = "$1" }}, {match = "**.status", type = "boolean"}]`)
	body := `[{"ident":"a","ble.sensor.temperature.1":1,"x.status":true,"u.1":1},{"ident":"b","ble.sensor.temperature.2":2}]`
	want := mapText(t, m, body)
	done := make(chan string)
	for range 8 {
		go func() {
			var got string
			for range 200 {
				got = mapText(t, m, body)
			}
			done <- got
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("concurrent result differs:\n%s\nwant:\n%s", got, want)
		}
	}
}

// TestSuggestRule: suggestions for unmapped parameters compile, and guess
// what flespi's naming says.
func TestSuggestRule(t *testing.T) {
	tests := []struct {
		name string
		kind message.Kind
		want string
	}{
		{"custom.param.10800", message.Number, "[[rule]]\nmatch = \"custom.param.*\"\nlabels = { index = \"$1\" }\n"},
		{"sensor.temperature.3", message.Number, "[[rule]]\nmatch = \"sensor.temperature.*\"\nunit = \"celsius\"  # a guess from the name: check it\nlabels = { index = \"$1\" }\n"},
		{"trailer.voltage", message.Number, "[[rule]]\nmatch = \"trailer.voltage\"\nunit = \"volts\"  # a guess from the name: check it\n"},
		{"door.open.status", message.Bool, "[[rule]]\nmatch = \"door.open.status\"\ntype = \"boolean\"\n"},
		{"alarm.code", message.Number, "[[rule]]\nmatch = \"alarm.code\"\ntype = \"integer\"\nprometheus = false  # a code, not a measurement\n"},
		{"driver.name", message.String, "[[rule]]\nmatch = \"driver.name\"\ntype = \"string\"\n"},
		{"wifi.networks", message.Array, "[[rule]]\nmatch = \"wifi.networks\"\ntype = \"json\"  # kept as JSON text; or drop = true\n"},
	}
	for _, tt := range tests {
		got := mapping.SuggestRule(tt.name, tt.kind)
		if got != tt.want {
			t.Errorf("%s:\n got  %q\n want %q", tt.name, got, tt.want)
		}
		m := compile(t, got)
		var r mapping.Result
		msg := decodeOne(t, `{"ident":"a","`+tt.name+`":`+map[message.Kind]string{message.Number: "1", message.Bool: "true", message.String: `"x"`, message.Array: "[1]"}[tt.kind]+`}`)
		if err := m.Apply(msg, received, &r); err != nil || len(r.Unmapped) != 0 || len(r.Skipped) != 0 || len(r.Points) != 1 {
			t.Errorf("%s: the suggested rule does not map it: %v %+v", tt.name, err, r)
		}
	}
}

// TestNoPoints: without InfluxDB output the samples, tags, skipped and
// unmapped parameters are the same, and no point is made.
func TestNoPoints(t *testing.T) {
	m := defaultMapping(t)
	with, without := &mapping.Result{}, &mapping.Result{NoPoints: true}
	var a, b []string
	for _, r := range []*mapping.Result{with, without} {
		err := message.NewDecoder().Decode([]byte(sampleBody(t)), func(msg *message.Message) error {
			if err := m.Apply(msg, received, r); err != nil {
				return err
			}
			var out []byte
			for i := range r.Samples {
				out = r.Samples[i].AppendText(out, r.Tags)
			}
			s := fmt.Sprintf("%s%v %v", out, r.Skipped, r.Unmapped)
			if r.NoPoints {
				if len(r.Points) != 0 {
					t.Errorf("%s: %d points with NoPoints", r.Ident, len(r.Points))
				}
				b = append(b, s)
			} else {
				if len(r.Points) == 0 {
					t.Errorf("%s: no point", r.Ident)
				}
				a = append(a, s)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(a) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("with points:\n%s\nwithout:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

// TestKeptStrings: the ident and tag values are the strings callers keep
// (gauge labels, the status page): they must not change when later
// messages reuse the decoder's and the Result's memory, escaped or not.
func TestKeptStrings(t *testing.T) {
	m := compile(t, "[mapping]\ntags = [\"device.name\"]\n[[rule]]\nmatch = \"x\"\ntype = \"string\"\n")
	var r mapping.Result
	var kept []string
	body := `[{"ident":"a\u0031","device.name":"t\"1","timestamp":1,"x":"v\u0031"},` +
		`{"ident":"b\u0032","device.name":"t\"2","timestamp":2,"x":"v\u0032"},` +
		`{"ident":"a1","device.name":"t\"1","timestamp":3,"x":"v3"},` +
		`{"ident":"a1","device.name":"renamed","timestamp":4,"x":"v4"}]`
	err := message.NewDecoder().Decode([]byte(body), func(msg *message.Message) error {
		if err := m.Apply(msg, received, &r); err != nil {
			return err
		}
		for _, tag := range r.Tags { // ident and device_name, sorted by key
			kept = append(kept, tag.Value)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(kept, " "), `t"1 a1 t"2 b2 t"1 a1 renamed a1`; got != want {
		t.Errorf("kept %q, want %q", got, want)
	}
}

// TestReusedResult: a Result reused from message to message (which keeps
// the targets of the keys while they repeat) maps every message as a fresh
// Result does, also when messages are left out or the keys change order.
func TestReusedResult(t *testing.T) {
	m := defaultMapping(t)
	body := `[{"ident":"a","timestamp":1,"position.speed":5,"device.name":"x"},` +
		`{"ident":"b","timestamp":2,"position.speed":6,"device.name":"y"},` +
		`{"ident":"c","timestamp":3,"position.speed":7,"device.name":"z"},` +
		`{"timestamp":4,"ident":"d","device.name":"w","position.speed":8},` +
		`{"timestamp":5,"ident":"e","device.name":"v","position.speed":9},` +
		`{"ident":"f","timestamp":6,"position.speed":10,"device.name":"u"}]`
	text := func(r *mapping.Result) string {
		var b []byte
		for i := range r.Points {
			b = r.Points[i].AppendLineProtocol(b)
		}
		for i := range r.Samples {
			b = r.Samples[i].AppendText(b, r.Tags)
		}
		return string(b)
	}
	for skip := -1; skip < 6; skip++ { // leave message skip out
		var reused mapping.Result
		n := 0
		err := message.NewDecoder().Decode([]byte(body), func(msg *message.Message) error {
			defer func() { n++ }()
			if n == skip {
				return nil
			}
			var fresh mapping.Result
			if err := m.Apply(msg, received, &fresh); err != nil {
				return err
			}
			if err := m.Apply(msg, received, &reused); err != nil {
				return err
			}
			if got, want := text(&reused), text(&fresh); got != want {
				t.Errorf("skipping %d, message %d:\nreused %s\nfresh  %s", skip, n, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestHits: Result.Hits adds up, rule by rule, what every message matched.
func TestHits(t *testing.T) {
	m := compile(t, "[[rule]]\nmatch = \"a\"\n[[rule]]\nmatch = \"b.*\"\n[[rule]]\nmatch = \"c\"\ndrop = true\n")
	var r mapping.Result
	mapped := 0
	err := message.NewDecoder().Decode([]byte(`[{"ident":"x","timestamp":1,"a":1,"b.1":2,"b.2":3,"c":4,"d":5},`+
		`{"ident":"y","timestamp":2,"b.3":1},{"timestamp":3,"a":1}]`), func(msg *message.Message) error {
		if m.Apply(msg, received, &r) == nil {
			mapped += r.Mapped
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(r.Hits, mapped); got != "[1 3 1] 5" {
		t.Errorf("hits and mapped = %s, want [1 3 1] 5 (the message without ident counts nothing)", got)
	}
}

// TestUnmappedAt: each unmapped name comes with the index of its parameter,
// twice for a name sent twice, and consumed parameters are not unmapped.
func TestUnmappedAt(t *testing.T) {
	m := compile(t, "[[rule]]\nmatch = \"x\"\n")
	body := `{"ident":"a","u1":1,"timestamp":1,"x":2,"u2":"v","u1":3}`
	var got []string
	err := message.NewDecoder().Decode([]byte(body), func(msg *message.Message) error {
		var r mapping.Result
		if err := m.Apply(msg, received, &r); err != nil {
			return err
		}
		if len(r.UnmappedAt) != len(r.Unmapped) {
			t.Fatalf("%d indexes for %d names", len(r.UnmappedAt), len(r.Unmapped))
		}
		for k, i := range r.UnmappedAt {
			p := msg.Params[i]
			if p.Name != r.Unmapped[k] {
				t.Errorf("index %d is %s, not %s", i, p.Name, r.Unmapped[k])
			}
			got = append(got, p.Name+"="+string(p.Raw))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); s != `u1=1 u2=v u1=3` {
		t.Errorf("unmapped %s", s)
	}
}
