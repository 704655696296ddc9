package remotewrite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// deadLetter keeps a refused request's series: a JSON line each.
func (w *Writer) deadLetter(req *writeRequest, cause error) error {
	if w.dead == nil {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var lines []byte
	for _, c := range req.chunks {
		e := deadletter.Series{Time: now, Error: cause.Error(), Labels: make(map[string]string, len(c.labels))}
		for _, l := range c.labels {
			e.Labels[l.Name] = l.Value
		}
		for _, s := range c.samples {
			e.Samples = append(e.Samples, deadletter.Sample{MS: s.ms, Value: s.value})
		}
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		lines = append(append(lines, line...), '\n')
	}
	w.deadMu.Lock()
	defer w.deadMu.Unlock()
	if err := w.dead.Append(lines); err != nil {
		return fmt.Errorf("keeping %d samples the remote write receiver refused in the dead-letter file: %w", req.samples, err)
	}
	return nil
}

// Replay sends dead-lettered samples to the receiver again (after its
// window was widened, say), as a batch is sent: what it refuses again is
// narrowed down and dead-lettered again. Samples of a series in several
// entries go together, in time order. It returns the samples taken and
// refused; an error is a passing failure or a setting, and nothing
// of the entries may count as done.
func (w *Writer) Replay(ctx context.Context, entries []deadletter.Series) (taken, refused int, err error) {
	bySeries := map[string]int{}
	p := &part{}
	for _, e := range entries {
		key := seriesKey(e.Labels)
		i, ok := bySeries[key]
		if !ok {
			i = len(p.batch)
			bySeries[key] = i
			p.batch = append(p.batch, batchSeries{series: &series{labels: labelsOf(e.Labels)}})
		}
		for _, s := range e.Samples {
			p.batch[i].samples = append(p.batch[i].samples, sample{s.MS, s.Value})
		}
	}
	var buf []byte
	for _, req := range p.requests(w.batch, nil) {
		t, d, err := w.send(ctx, req, &buf)
		taken += t
		refused += d
		if err != nil {
			return taken, refused, err
		}
	}
	return taken, refused, nil
}

// labelsOf are a dead letter's labels as sent: __name__, then by name.
func labelsOf(m map[string]string) []mapping.Label {
	out := make([]mapping.Label, 0, len(m))
	for k, v := range m {
		if k != "__name__" {
			out = append(out, mapping.Label{Name: k, Value: v})
		}
	}
	slices.SortFunc(out, func(a, b mapping.Label) int { return strings.Compare(a.Name, b.Name) })
	return append([]mapping.Label{{Name: "__name__", Value: m["__name__"]}}, out...)
}

func seriesKey(m map[string]string) string {
	var b strings.Builder
	for _, l := range labelsOf(m) {
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
		b.WriteByte(0xff)
	}
	return b.String()
}
