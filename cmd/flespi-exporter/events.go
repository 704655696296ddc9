package main

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
)

// mapEvents is the dry run of the fleet events: it prints the events the
// messages of a file make, as the flespi_events points InfluxDB would
// get, and each device's counters.
func mapEvents(file, input string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, body := loadInput(file, input, stdin, stderr)
	if cfg == nil {
		return 1
	}
	found, err := events.Detect(cfg.Mapping, cfg.Events, body, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", input, err)
		return 1
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var b []byte
	for _, d := range found {
		fmt.Fprintf(out, "# device %s: %d event(s)\n", d.Ident, len(d.Events))
		for i := range d.Events {
			e := &d.Events[i]
			fmt.Fprintf(out, "# %s from %s to %s (%s)\n", e.Kind, eventTime(e.Start), eventTime(e.End), time.Duration(e.End-e.Start)*time.Millisecond)
			p := influx.EventPoint(&fleet.Record{Ident: d.Ident, Tags: d.Tags, Event: *e})
			b = influx.AppendPoint(b[:0], &p)
			out.Write(b)
		}
		t := d.Totals
		fmt.Fprintf(out, "# totals: %d trips, %.0f m, %.0f s idling, %.1f L refuelled, %.1f L drained, %d overspeeds\n\n",
			t.Trips, t.DistanceM, t.IdleS, t.RefilledL, t.DrainedL, t.Overspeeds)
	}
	return 0
}

func eventTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
