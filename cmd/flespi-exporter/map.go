package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// mapMessages is the dry run: it prints what each message would become.
func mapMessages(file, input string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, body := loadInput(file, input, stdin, stderr)
	if cfg == nil {
		return 1
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if err := printMapped(cfg.Mapping, body, time.Now(), out); err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "%s: %v\n", input, err)
		return 1
	}
	return 0
}

// printMapped writes what each message of body maps to, then the summary.
// received stands in for the arrival time.
func printMapped(m *mapping.Mapping, body []byte, received time.Time, w io.Writer) error {
	out := bufio.NewWriter(w)
	defer out.Flush()
	d := mapDump{m: m, w: out, received: received, unmapped: map[string]int{}}
	if err := message.NewDecoder().Decode(body, d.message); err != nil {
		return err
	}
	d.summary()
	return nil
}

// loadInput loads the configuration and reads the input of a dry run;
// nil after saying why on stderr.
func loadInput(file, input string, stdin io.Reader, stderr io.Writer) (*config.Loaded, []byte) {
	cfg := load(file, stderr)
	if cfg == nil {
		return nil, nil
	}
	body, err := readInput(input, stdin)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil
	}
	return cfg, body
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// mapDump prints messages as they are mapped and collects the unmapped
// parameter names for the summary.
type mapDump struct {
	m        *mapping.Mapping
	w        *bufio.Writer
	received time.Time
	res      mapping.Result
	buf      []byte
	n        int
	unmapped map[string]int
}

func (d *mapDump) message(msg *message.Message) error {
	d.n++
	err := d.m.Apply(msg, d.received, &d.res)
	if errors.Is(err, mapping.ErrNoIdent) || errors.Is(err, mapping.ErrNoTime) {
		fmt.Fprintf(d.w, "# message %d: skipped: %v\n\n", d.n, err)
		return nil
	}
	r := &d.res
	fmt.Fprintf(d.w, "# message %d: ident %s, time %s\n", d.n, r.Ident, r.Time.Format(time.RFC3339Nano))
	d.buf = d.buf[:0]
	for i := range r.Points {
		d.buf = influx.AppendPoint(d.buf, &r.Points[i])
	}
	for i := range r.Samples {
		d.buf = gauges.AppendSample(d.buf, &r.Samples[i], r.Tags)
	}
	d.w.Write(d.buf)
	for _, s := range r.Skipped {
		fmt.Fprintf(d.w, "# skipped %s: %s\n", s.Param, s.Reason)
	}
	if len(r.Unmapped) > 0 {
		fmt.Fprintf(d.w, "# unmapped: %s\n", strings.Join(r.Unmapped, " "))
	}
	for _, name := range r.Unmapped {
		d.unmapped[name]++
	}
	fmt.Fprintln(d.w)
	return nil
}

func (d *mapDump) summary() {
	fmt.Fprintf(d.w, "# %d message(s); %d parameter name(s) no rule maps", d.n, len(d.unmapped))
	if len(d.unmapped) == 0 {
		fmt.Fprintln(d.w)
		return
	}
	fmt.Fprintln(d.w, " (name: messages):")
	names := make([]string, 0, len(d.unmapped))
	for n := range d.unmapped {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(d.w, "#   %s: %d\n", n, d.unmapped[n])
	}
}

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
