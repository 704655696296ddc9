package status

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// defaultMapping is the rules of the repository's config.toml.
func defaultMapping(t *testing.T) *mapping.Mapping {
	t.Helper()
	data, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("config.toml", string(data), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Mapping
}

// record passes messages through a pipeline whose only output is s.
func record(t *testing.T, s *Tracker, m *mapping.Mapping, body string) {
	t.Helper()
	recorder(t, s, m)(body)
}

// recorder returns a function that passes messages through one pipeline
// whose only output is s: its batches keep their devices' places from one
// body to the next, as a running exporter's do.
func recorder(t *testing.T, s *Tracker, m *mapping.Mapping) func(body string) {
	p := pipeline.Must(pipeline.New(m, []pipeline.Output{s}, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	return func(body string) {
		t.Helper()
		if _, err := p.Process(context.Background(), "test", []byte(body), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusBounds: the tracker lists at most its caps and counts the rest.
func TestStatusBounds(t *testing.T) {
	s := NewTracker()
	m := defaultMapping(t)
	var body strings.Builder
	body.WriteString(`[{"ident":"first","timestamp":1`)
	for i := range maxUnmappedNames + 7 {
		fmt.Fprintf(&body, `,"p%d":1`, i)
	}
	body.WriteString("}")
	for i := range maxDevicesPerName + 4 {
		fmt.Fprintf(&body, `,{"ident":"d%d","timestamp":%d,"p0":1}`, i, i+1)
	}
	body.WriteString("]")
	record(t, s, m, body.String())
	unmapped, _, untrackedNames := s.snapshot(m)
	if len(unmapped) != maxUnmappedNames || untrackedNames != 7 {
		t.Errorf("unmapped %d (+%d)", len(unmapped), untrackedNames)
	}
	if u := unmapped[0]; u.Name != "p0" || u.Devices != maxDevicesPerName || !u.DevicesMore || u.Messages != maxDevicesPerName+5 {
		t.Errorf("p0 from %d devices: %+v", maxDevicesPerName+5, u)
	}
}

// TestStatusUnmappedCounts: the tracker counts each unmapped name's values
// and devices, whatever the order, repeats and changes of names from one
// message to the next.
func TestStatusUnmappedCounts(t *testing.T) {
	s := NewTracker()
	m := defaultMapping(t)
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][]string{{"a", "b"}, {"a", "b"}, {"a"}, {"b", "a"}, {}, {"a", "a"}, {"c", "a", "b"}}
	messages := map[string]int64{}
	devices := map[string]map[string]bool{}
	send := recorder(t, s, m)
	for range 200 {
		var msgs []string
		for range 1 + rng.IntN(4) {
			ident := fmt.Sprint("dev", rng.IntN(5))
			msg := `{"ident":"` + ident + `","timestamp":1`
			for _, name := range shapes[rng.IntN(len(shapes))] {
				msg += `,"` + name + `":1`
				messages[name]++
				if devices[name] == nil {
					devices[name] = map[string]bool{}
				}
				devices[name][ident] = true
			}
			msgs = append(msgs, msg+"}")
		}
		send("[" + strings.Join(msgs, ",") + "]")
	}
	unmapped, _, _ := s.snapshot(m)
	if len(unmapped) != len(messages) {
		t.Fatalf("%d names, want %d", len(unmapped), len(messages))
	}
	for _, u := range unmapped {
		if u.Messages != messages[u.Name] || u.Devices != len(devices[u.Name]) {
			t.Errorf("%s: %d values from %d devices, want %d from %d", u.Name, u.Messages, u.Devices, messages[u.Name], len(devices[u.Name]))
		}
	}
}

// TestStatusUnmappedAfterReload: a name that new rules map leaves the
// list; when rules that leave it unmapped come back, a device that kept
// sending it is counted afresh, from its next message.
func TestStatusUnmappedAfterReload(t *testing.T) {
	s := NewTracker()
	m := defaultMapping(t)
	send := recorder(t, s, m)
	body := `[{"ident":"dev","timestamp":1,"zz.unmapped":1}]`
	send(body)
	send(body)
	withRule, err := mapping.Compile(mapping.DefaultConfig(), []mapping.Rule{{Match: "zz.unmapped", Field: "zz"}})
	if err != nil {
		t.Fatal(err)
	}
	if unmapped, _, _ := s.snapshot(withRule); len(unmapped) != 0 {
		t.Fatalf("with a rule for it: %+v", unmapped)
	}
	send(body)
	unmapped, _, _ := s.snapshot(m)
	if len(unmapped) != 1 || unmapped[0].Messages != 1 || unmapped[0].Devices != 1 {
		t.Errorf("sent once since it left the list: %+v", unmapped)
	}
}
