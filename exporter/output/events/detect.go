package events

import (
	"errors"
	"slices"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Detected is what Detect found of one device.
type Detected struct {
	Ident  string
	Tags   []mapping.Tag
	Events []fleet.Event
	Totals fleet.Totals
	Late   int // messages of a device time it had already (duplicates)
}

// Detect runs a body of messages (a file: every message there is, in any
// order) through fresh detectors: each device's messages sorted by device
// time, and what only time would close closed at the end. It is the dry
// run of `map -events`, with the thresholds of cfg.
func Detect(m *mapping.Mapping, cfg config.Events, body []byte, received time.Time) ([]Detected, error) {
	type dev struct {
		Detected
		name string
		q    fleet.Queue
	}
	devs := map[string]*dev{}
	var order []string
	var res mapping.Result
	var reader fleet.Reader
	err := message.NewDecoder().Decode(body, func(msg *message.Message) error {
		err := m.Apply(msg, received, &res)
		if errors.Is(err, mapping.ErrNoIdent) || errors.Is(err, mapping.ErrNoTime) || res.Future {
			return nil
		}
		if err != nil {
			return err
		}
		d := devs[res.Ident]
		if d == nil {
			d = &dev{Detected: Detected{Ident: res.Ident, Tags: slices.Clone(res.Tags)}}
			if n := msg.Get("device.name"); n != nil && n.Kind == message.String {
				d.name = string(n.Raw)
			}
			devs[res.Ident] = d
			order = append(order, res.Ident)
		}
		s, _ := reader.Read(msg, res.Time.UnixMilli())
		if _, dup := d.q.Add(s, 0); dup {
			d.Late++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Detected, 0, len(order))
	thresholds := CompileThresholds(&cfg)
	for _, ident := range order {
		d := devs[ident]
		st := thresholds.Of(d.Ident, d.name)
		var det fleet.Device
		d.q.Release(0, -1, func(s fleet.Sample) { d.Events = det.Pass(s, st, d.Events) })
		d.Events = det.Flush(st, d.Events)
		d.Totals = det.Totals
		out = append(out, d.Detected)
	}
	return out, nil
}
