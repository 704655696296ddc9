package events

import (
	"bufio"
	"io"
	"slices"
	"strings"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// WriteMetrics writes each device's event counters and motion on
// /metrics, with the device gauges' labels (ident and [mapping].tags), in
// the text format straight, as the device gauges are (a registry's Gather
// would copy thousands of series a scrape). What it shows is what the
// journal holds: a counter never goes back over a restart.
func (o *Output) WriteMetrics(w io.Writer) error {
	type row struct {
		labels []mapping.Label
		shown
	}
	o.mu.Lock()
	rows := make([]row, 0, len(o.devices))
	for _, d := range o.devices {
		labels := make([]mapping.Label, len(d.tags))
		for i, t := range d.tags {
			labels[i] = mapping.Label{Name: t.Key, Value: t.Value}
		}
		rows = append(rows, row{labels, o.showing(d)})
	}
	o.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return compareLabels(a.labels, b.labels) })

	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	family := func(name, help, typ string, value func(*row) float64) error {
		line = append(line[:0], "# HELP "+name+" "...)
		line = gauges.AppendHelp(line, help)
		line = append(line, "\n# TYPE "+name+" "+typ+"\n"...)
		for i := range rows {
			line = gauges.AppendSeries(line, name, rows[i].labels, nil, value(&rows[i]))
			if len(line) > 32<<10 {
				if _, err := bw.Write(line); err != nil {
					return err
				}
				line = line[:0]
			}
		}
		_, err := bw.Write(line)
		return err
	}
	for _, c := range fleet.Counters {
		if err := family(o.namespace+"_device_"+c.Suffix, c.Help, "counter", func(r *row) float64 { return c.Value(&r.totals) }); err != nil {
			return err
		}
	}
	if err := family(o.namespace+"_device_drain_started_timestamp_seconds", "When the device's newest fuel drain began, device time (0: none): what the FlespiFuelDrain alert says.", "gauge",
		func(r *row) float64 { return float64(r.drained) / 1000 }); err != nil {
		return err
	}
	if err := family(o.namespace+"_device_motion", "The vehicle now, as its fleet events see it: 0 parked, 1 moving, 2 idling (ignition on, not moving).", "gauge",
		func(r *row) float64 { return float64(r.motion) }); err != nil {
		return err
	}
	return bw.Flush()
}

func compareLabels(a, b []mapping.Label) int {
	for i := range min(len(a), len(b)) {
		if c := strings.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}
