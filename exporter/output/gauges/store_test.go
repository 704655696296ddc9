package gauges

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// TestStoreTTLs: each series keeps its own TTL; 0 never expires.
func TestStoreTTLs(t *testing.T) {
	clock := tb.NewClock()
	g := New(100, clock.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := clock.Now()
	dev := []mapping.Label{{Name: "ident", Value: "a"}}
	g.Update([]Group{{Labels: dev, Start: 0, End: 3}}, []mapping.Sample{
		{Gauge: &mapping.Gauge{Name: "short", Help: "h", TTL: time.Minute}, Value: 1, Time: at.UnixNano()},
		{Gauge: &mapping.Gauge{Name: "long", Help: "h", TTL: time.Hour}, Value: 2, Time: at.UnixNano()},
		{Gauge: &mapping.Gauge{Name: "never", Help: "h", TTL: 0}, Value: 3, Time: at.UnixNano()},
	})
	names := func() string {
		var b strings.Builder
		g.Expire()
		if err := g.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(b.String(), "\n") {
			if name, _, ok := strings.Cut(line, "{"); ok {
				out = append(out, name)
			}
		}
		return strings.Join(out, " ")
	}
	if got := names(); got != "long never short" {
		t.Errorf("at first: %s", got)
	}
	clock.Add(2 * time.Minute)
	if got := names(); got != "long never" {
		t.Errorf("after 2m: %s", got)
	}
	clock.Add(24 * 365 * time.Hour)
	if got := names(); got != "never" {
		t.Errorf("after a year: %s", got)
	}
}

// TestExpositionEscapes writes label values and help that need escaping,
// and reads them back with the Prometheus parser.
func TestExpositionEscapes(t *testing.T) {
	g := New(100, time.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	dev := []mapping.Label{{Name: "device_name", Value: "truck \"7\"\\north\nbay"}, {Name: "ident", Value: "a"}}
	rule := []mapping.Label{{Name: "sensor", Value: "1"}}
	g.Update([]Group{{Labels: dev, Start: 0, End: 1}}, []mapping.Sample{
		{Gauge: &mapping.Gauge{Name: "flespi_t_celsius", Help: "Temp \\ with\nlines", Labels: rule}, Value: -18.25, Time: time.Now().UnixNano()},
	})
	var b strings.Builder
	g.WriteText(&b)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	mf := mfs["flespi_t_celsius"]
	if mf == nil || mf.GetHelp() != "Temp \\ with\nlines" || len(mf.Metric) != 1 {
		t.Fatalf("parsed %+v", mf)
	}
	m := mf.Metric[0]
	got := fmt.Sprintf("%s=%s %s=%s %s=%s %v", m.Label[0].GetName(), m.Label[0].GetValue(), m.Label[1].GetName(), m.Label[1].GetValue(),
		m.Label[2].GetName(), m.Label[2].GetValue(), m.GetUntyped().GetValue()+m.GetGauge().GetValue())
	if want := "device_name=truck \"7\"\\north\nbay ident=a sensor=1 -18.25"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestStoreAgainstModel updates the store with random messages, whose
// samples come in changing orders, with gauges that share a name but not
// their labels, with equal gauges behind different pointers (as after a
// reload) and with late times, and compares every value with a plain map
// of the newest value per series.
func TestStoreAgainstModel(t *testing.T) {
	g := New(1_000_000, time.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	gauges := []*mapping.Gauge{
		{Name: "a", Help: "h"},
		{Name: "b", Help: "h"},
		{Name: "c", Help: "h", Labels: []mapping.Label{{Name: "n", Value: "1"}}},
		{Name: "c", Help: "h", Labels: []mapping.Label{{Name: "n", Value: "2"}}},
		{Name: "a", Help: "h"}, // gauges[0] again, another pointer
	}
	model := map[modelKey]modelValue{}
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3000 {
		ident := fmt.Sprint(rng.IntN(5))
		at := base.Add(time.Duration(rng.IntN(100)) * time.Second)
		var samples []mapping.Sample
		for _, i := range rng.Perm(len(gauges))[:1+rng.IntN(len(gauges))] {
			s := mapping.Sample{Gauge: gauges[i], Value: float64(rng.IntN(1000)), Time: at.UnixNano()}
			samples = append(samples, s)
			k := modelKey{ident, s.Name, fmt.Sprint(s.Labels)}
			if old, ok := model[k]; !ok || !at.Before(old.t) {
				model[k] = modelValue{s.Value, at}
			}
		}
		if rng.IntN(4) > 0 { // mostly one order, as devices do
			slices.SortFunc(samples, func(a, b mapping.Sample) int { return strings.Compare(a.Name, b.Name) })
		}
		g.Update([]Group{{Labels: []mapping.Label{{Name: "ident", Value: ident}}, Start: 0, End: len(samples)}}, samples)
		if !matchesModel(t, g, model) {
			t.Fatalf("after %d messages", i+1)
		}
	}
}

// modelKey is a series of TestStoreAgainstModel: ident, name and the
// labels as fmt prints them.
type modelKey struct{ dev, name, labels string }

type modelValue struct {
	v float64
	t time.Time
}

// matchesModel compares the store's exposition with the model.
func matchesModel(t *testing.T, g *Store, model map[modelKey]modelValue) bool {
	t.Helper()
	var b strings.Builder
	if err := g.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.HasPrefix(line, "#") {
			got[line] = true
		}
	}
	ok := true
	for k, v := range model {
		labels := `ident="` + k.dev + `"`
		if k.labels != "[]" {
			labels += `,n="` + strings.Trim(k.labels, "[{n }]") + `"`
		}
		line := fmt.Sprintf("%s{%s} %v", k.name, labels, v.v)
		if !got[line] {
			t.Errorf("missing %s", line)
			ok = false
		}
	}
	if len(got) != len(model) || g.Count() != len(model) {
		t.Errorf("%d lines, %d series held, want %d", len(got), g.Count(), len(model))
		ok = false
	}
	return ok
}

// TestExpiredSeriesComeBack: a series that expired while its device's
// messages keep their order is made again, and counted again.
func TestExpiredSeriesComeBack(t *testing.T) {
	clock := tb.NewClock()
	g := New(100, clock.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	dev := []mapping.Label{{Name: "ident", Value: "a"}}
	short := &mapping.Gauge{Name: "short", Help: "h", TTL: time.Minute}
	long := &mapping.Gauge{Name: "long", Help: "h", TTL: time.Hour}
	send := func(v float64) {
		g.Update([]Group{{Labels: dev, Start: 0, End: 2}}, []mapping.Sample{
			{Gauge: long, Value: v, Time: clock.Now().UnixNano()}, {Gauge: short, Value: v, Time: clock.Now().UnixNano()},
		})
	}
	send(1)
	clock.Add(2 * time.Minute)
	g.Expire()
	if n := g.Count(); n != 1 {
		t.Fatalf("after the short TTL: %d series, want 1", n)
	}
	send(2)
	var b strings.Builder
	if err := g.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if n := g.Count(); n != 2 || !strings.Contains(b.String(), `short{ident="a"} 2`) || !strings.Contains(b.String(), `long{ident="a"} 2`) {
		t.Errorf("%d series after the expired one came back:\n%s", n, b.String())
	}
}

// TestDevicePlaces: the Store keeps each device where the mapping's
// Device of its ident points (one per ident, as Apply gives), and still
// finds the right device when that device was renamed (other labels),
// expired and came back, or is another Store's.
func TestDevicePlaces(t *testing.T) {
	clock := tb.NewClock()
	newStore := func() *Store {
		return New(100, clock.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	g := newStore()
	place := &mapping.Device{}
	v := &mapping.Gauge{Name: "v", Help: "h", TTL: time.Minute}
	send := func(g *Store, name string, value float64) {
		labels := []mapping.Label{{Name: "ident", Value: "a"}, {Name: "name", Value: name}}
		g.Update([]Group{{Labels: labels, Start: 0, End: 1, Device: place}}, []mapping.Sample{{Gauge: v, Value: value, Time: clock.Now().UnixNano()}})
	}
	lines := func(g *Store) string {
		var b strings.Builder
		if err := g.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if !strings.HasPrefix(l, "#") && l != "" {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	send(g, "x", 1)
	send(g, "y", 2) // renamed: a device of its own labels; the old one stays until its TTL
	if got, want := lines(g), `v{ident="a",name="x"} 1 v{ident="a",name="y"} 2`; got != want {
		t.Errorf("after the rename: %s, want %s", got, want)
	}
	clock.Add(2 * time.Minute)
	g.Expire()
	if n := g.Count(); n != 0 {
		t.Fatalf("after the TTL: %d series, want 0", n)
	}
	send(g, "y", 3) // back, with the place of the device that expired
	if got, want := lines(g), `v{ident="a",name="y"} 3`; got != want || g.Count() != 1 {
		t.Errorf("after coming back: %s (%d series), want %s", got, g.Count(), want)
	}
	g2 := newStore()
	send(g2, "y", 4) // another Store, the same place
	if got, want := lines(g2), `v{ident="a",name="y"} 4`; got != want {
		t.Errorf("the other Store: %s, want %s", got, want)
	}
	if got, want := lines(g), `v{ident="a",name="y"} 3`; got != want {
		t.Errorf("the first Store after the other's update: %s, want %s", got, want)
	}
}

// TestReloadedTTL: after a reload, a series takes the TTL of its new
// rule with its next sample (the new mapping's Gauge, another pointer).
func TestReloadedTTL(t *testing.T) {
	clock := tb.NewClock()
	g := New(100, clock.Now, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	dev := []mapping.Label{{Name: "ident", Value: "a"}}
	send := func(gauge *mapping.Gauge) {
		g.Update([]Group{{Labels: dev, Start: 0, End: 1}}, []mapping.Sample{{Gauge: gauge, Value: 1, Time: clock.Now().UnixNano()}})
	}
	send(&mapping.Gauge{Name: "v", Help: "h", TTL: time.Hour})
	send(&mapping.Gauge{Name: "v", Help: "h", TTL: time.Minute}) // the reloaded rule
	clock.Add(2 * time.Minute)
	g.Expire()
	if n := g.Count(); n != 0 {
		t.Errorf("%d series two minutes after the rule's TTL became one minute, want 0", n)
	}
}
