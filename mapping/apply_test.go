package mapping_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

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
				out = gauges.AppendSample(out, &r.Samples[i], r.Tags)
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
			b = influx.AppendPoint(b, &r.Points[i])
		}
		for i := range r.Samples {
			b = gauges.AppendSample(b, &r.Samples[i], r.Tags)
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

// TestTimesInfluxDBCannotStore: a device time before 1677 or after 2262
// (1e11 seconds; milliseconds sent as seconds) is not wrapped into another
// century: the next time source decides, and without one the message is
// not stored at all.
func TestTimesInfluxDBCannotStore(t *testing.T) {
	m := compile(t, `rule = [{match = "v"}]`)
	for _, c := range []struct{ msg, want string }{
		{`{"ident":"a","timestamp":100000000000,"server.timestamp":1717171200.5,"v":1}`,
			"flespi,ident=a v=1 1717171200500000000\nflespi_v{ident=\"a\"} 1\nskipped timestamp: time_out_of_range\n"},
		{`{"ident":"a","timestamp":1750000000000,"server.timestamp":1717171200,"v":1}`,
			"flespi,ident=a v=1 1717171200000000000\nflespi_v{ident=\"a\"} 1\nskipped timestamp: time_out_of_range\n"},
		{`{"ident":"a","timestamp":-10000000000,"server.timestamp":1717171200,"v":1}`,
			"flespi,ident=a v=1 1717171200000000000\nflespi_v{ident=\"a\"} 1\nskipped timestamp: time_out_of_range\n"},
		{`{"ident":"a","timestamp":9223372036,"v":1}`, // 2262-04-11T23:47:16Z: the last storable second
			"flespi,ident=a v=1 9223372036000000000\nskipped (gauges): future_time\n"},
	} {
		if got := mapText(t, m, c.msg); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.msg, got, c.want)
		}
	}
	noReceived := compile(t, "[mapping]\ntime = [\"timestamp\"]\n[[rule]]\nmatch = \"v\"")
	if got := mapText(t, noReceived, `{"ident":"a","timestamp":100000000000,"v":1}`); got != "error: "+mapping.ErrNoTime.Error()+"\n" {
		t.Errorf("without another source: %q", got)
	}
}

// TestFutureTimesLeaveGauges: a message dated past mapping.max_future
// after its arrival is stored (it is data) but makes no gauge sample, so
// that it cannot freeze the device's gauges; within max_future it does.
func TestFutureTimesLeaveGauges(t *testing.T) {
	m := compile(t, "[mapping]\nmax_future = \"1h\"\n[[rule]]\nmatch = \"speed\"")
	// received is 2024-06-01T00:00:00Z.
	var r mapping.Result
	for _, c := range []struct {
		ts      int64
		samples int
		future  bool
	}{
		{4102444800, 0, true},               // 2100
		{received.Unix() + 2*3600, 0, true}, // two hours ahead
		{received.Unix() + 1800, 1, false},  // half an hour ahead: a device clock a little fast
		{received.Unix() - 86400, 1, false},
	} {
		msg := decodeOne(t, fmt.Sprintf(`{"ident":"a","timestamp":%d,"speed":50}`, c.ts))
		if err := m.Apply(msg, received, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Samples) != c.samples || r.Future != c.future || len(r.Points) != 1 {
			t.Errorf("time %d: %d samples, future %v, %d points; want %d, %v, 1", c.ts, len(r.Samples), r.Future, len(r.Points), c.samples, c.future)
		}
	}
}
