package remotewrite

import (
	"context"
	"encoding/json"
	"fmt"
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
		labels := c.labels()
		e := deadletter.Series{Time: now, Error: cause.Error(), Labels: make(map[string]string, len(labels))}
		for _, l := range labels {
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
		se := deadSeries(e.Labels)
		i, ok := bySeries[string(se.tail)]
		if !ok {
			i = len(p.batch)
			bySeries[string(se.tail)] = i
			p.batch = append(p.batch, batchSeries{series: se})
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

// deadSeries is the series of a dead letter's labels: a device of its
// labels but __name__, a gauge of that name.
func deadSeries(m map[string]string) *series {
	dev := &deviceSeries{}
	for k, v := range m {
		if k != "__name__" {
			dev.tags = append(dev.tags, mapping.Tag{Key: k, Value: v})
		}
	}
	return newSeriesOf(dev, &mapping.Gauge{Name: m["__name__"]}, nil) // labels whole in its tail
}
