package exporter

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
	data, err := os.ReadFile("../config.toml")
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
func record(t *testing.T, s *statusTracker, m *mapping.Mapping, body string) {
	t.Helper()
	p := pipeline.New(m, pipeline.Outputs{Status: s}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := p.Process(context.Background(), "test", []byte(body), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestStatusBounds: the tracker lists at most its caps and counts the rest.
func TestStatusBounds(t *testing.T) {
	s := newStatusTracker()
	m := defaultMapping(t)
	var body strings.Builder
	body.WriteString(`[{"ident":"first","timestamp":1`)
	for i := range maxUnmappedNames + 7 {
		fmt.Fprintf(&body, `,"p%d":1`, i)
	}
	body.WriteString("}")
	for i := range maxStatusDevices + 4 {
		fmt.Fprintf(&body, `,{"ident":"d%s%d","timestamp":%d}`, strings.Repeat("x", i%3), i, i+1)
	}
	body.WriteString("]")
	record(t, s, m, body.String())
	devices, unmapped, _, untrackedDevices, untrackedNames := s.snapshot(m)
	if len(devices) != maxStatusDevices || untrackedDevices != 5 || len(unmapped) != maxUnmappedNames || untrackedNames != 7 {
		t.Errorf("devices %d (+%d), unmapped %d (+%d)", len(devices), untrackedDevices, len(unmapped), untrackedNames)
	}
}

// TestStatusUnmappedCounts: the per-device shortcut for unmapped names
// that repeat counts what counting every value does, whatever the order,
// repeats and changes of names from one message to the next.
func TestStatusUnmappedCounts(t *testing.T) {
	s := newStatusTracker()
	m := defaultMapping(t)
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][]string{{"a", "b"}, {"a", "b"}, {"a"}, {"b", "a"}, {}, {"a", "a"}, {"c", "a", "b"}}
	messages := map[string]int64{}
	devices := map[string]map[string]bool{}
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
		record(t, s, m, "["+strings.Join(msgs, ",")+"]")
	}
	_, unmapped, _, _, _ := s.snapshot(m)
	if len(unmapped) != len(messages) {
		t.Fatalf("%d names, want %d", len(unmapped), len(messages))
	}
	for _, u := range unmapped {
		if u.Messages != messages[u.Name] || u.Devices != len(devices[u.Name]) {
			t.Errorf("%s: %d values from %d devices, want %d from %d", u.Name, u.Messages, u.Devices, messages[u.Name], len(devices[u.Name]))
		}
	}
}
