package mapping_test

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

func defaultMapping(t testing.TB) *mapping.Mapping {
	t.Helper()
	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Mapping
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// FuzzApply maps arbitrary bodies with the default rules and checks what
// every output relies on: one line per point, valid metric and label names,
// finite gauge values, at least one field per point.
func FuzzApply(f *testing.F) {
	f.Add([]byte(sampleBody(f)))
	f.Add([]byte(`{"ident":"a b","timestamp":"1.5","ble.sensor.temperature.x y":"7","ain#2":1e308,"x.status":"on"}`))
	f.Add([]byte(`[{"ident":"\n","gsm.mcc":"25\"7","can.a.b.temperature":-1e-9,"accumulator.ü":3}]`))
	m := defaultMapping(f)
	d := message.NewDecoder()
	var r mapping.Result
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = d.Decode(body, func(msg *message.Message) error {
			if m.Apply(msg, received, &r) != nil {
				return nil
			}
			for i := range r.Points {
				checkPoint(t, &r.Points[i])
			}
			for _, s := range r.Samples {
				checkSample(t, s)
			}
			return nil
		})
	})
}

func checkPoint(t *testing.T, p *mapping.Point) {
	line := string(influx.AppendPoint(nil, p))
	if len(p.Fields) == 0 || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Errorf("bad point line %q", line)
	}
	for _, f := range p.Fields {
		if f.Value.Type == mapping.TypeFloat && (math.IsNaN(f.Value.Float) || math.IsInf(f.Value.Float, 0)) {
			t.Errorf("non-finite field %s in %q", f.Key, line)
		}
	}
}

func checkSample(t *testing.T, s mapping.Sample) {
	if !metricName.MatchString(s.Name) || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		t.Errorf("bad sample %s = %v", s.Name, s.Value)
	}
	for _, l := range s.Labels {
		if !labelName.MatchString(l.Name) || l.Value == "" {
			t.Errorf("bad label %q=%q on %s", l.Name, l.Value, s.Name)
		}
	}
}
