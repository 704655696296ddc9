package mapping_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
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
			b = influx.AppendPoint(b, &r.Points[i])
		}
		for i := range r.Samples {
			b = gauges.AppendSample(b, &r.Samples[i], r.Tags)
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
		name:  "integers: every digit of the int64 range, signs included",
		rules: `rule = [{match = "i.*", type = "integer", prometheus = false}]`,
		msg:   `{` + ts + `,"i.neg":-1234567890123456789,"i.min":-9223372036854775808,"i.max":9223372036854775807,"i.over":9223372036854775808}`,
		want: "flespi,ident=d1 i.neg=-1234567890123456789i,i.min=-9223372036854775808i,i.max=9223372036854775807i 1717171200250000000\n" +
			"skipped i.over: not_integer\n",
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

// TestIdentTooLong: an ident longer than MaxIdentLen is data, not a
// device: the message is skipped as one without ident, and nothing of it
// (a registry entry, a series) is made.
func TestIdentTooLong(t *testing.T) {
	m, err := mapping.Compile(mapping.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", mapping.MaxIdentLen+1)
	for ident, want := range map[string]error{long: mapping.ErrIdentTooLong, long[:mapping.MaxIdentLen]: nil} {
		var r mapping.Result
		var got error
		if err := message.NewDecoder().Decode([]byte(`{"ident":"`+ident+`","timestamp":1717171200}`), func(msg *message.Message) error {
			got = m.Apply(msg, time.Now(), &r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != want || (got != nil && !errors.Is(got, mapping.ErrNoIdent)) {
			t.Errorf("ident of %d bytes: %v, want %v (counted as no ident)", len(ident), got, want)
		}
	}
}
