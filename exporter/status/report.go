// Package status is the operator's view of a running exporter: the status
// page, its JSON (/api/status, /api/devices), and the Tracker that keeps
// what the page shows of parameters and rules. It reads the state of the
// other parts (the device registry, the outputs, the MQTT source) and
// keeps none of it.
//
// A new item on the page is a field of Report, filled in Page.report,
// with its place in page.html; an item that needs the operator's
// attention is also an Attention entry (attention.go), listed first.
package status

import (
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/exporter/source/mqtt"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Page is what the status page reads. Nil Influx or MQTT: not configured.
type Page struct {
	Version    string
	ConfigFile string
	Started    time.Time
	Now        func() time.Time
	Tracker    *Tracker
	Devices    *devices.Registry
	Mapping    func() *mapping.Mapping // the rules in use
	Gauges     *gauges.Store
	MaxSeries  int
	Influx     *influx.Sink
	InfluxURL  string
	Bucket     string
	DeadLetter string // the dead-letter file; "" when off
	MQTT       *mqtt.Source
	Events     Events // nil with the fleet events off
	// Outputs are the outputs' own sections (pipeline.Reporter): what
	// each says of itself, and what of it needs the operator.
	Outputs func() []pipeline.Report
}

// Events is what the page reads of the fleet events (events.Output).
type Events interface {
	Notes(idents []string) map[string]events.Note
	Drains(since time.Time) []events.Drain
}

// Report is the status page's data, and the JSON of /api/status.
type Report struct {
	Version          string            `json:"version"`
	ConfigFile       string            `json:"config_file"`
	Started          time.Time         `json:"started"`
	Now              time.Time         `json:"now"`
	Attention        []Attention       `json:"attention"`
	Devices          []devices.Device  `json:"devices"`         // one page of them; see DevicesTotal
	DevicesTotal     int               `json:"devices_total"`   // registered and matching the filter
	DevicesRefused   uint64            `json:"devices_refused"` // messages of devices past data.max_devices
	SilentDevices    int               `json:"silent_devices"`  // silent now, past their own silence
	SilentFirst      []devices.Device  `json:"silent_first"`    // the most overdue of them
	Unmapped         []Unmapped        `json:"unmapped"`
	Suggestions      []Suggestion      `json:"suggestions"`
	UnmappedLimit    int               `json:"unmapped_limit"`
	UntrackedNames   int64             `json:"untracked_unmapped_values"`
	Rules            []Rule            `json:"rules"`
	InfluxDB         *InfluxDB         `json:"influxdb"` // null without InfluxDB
	MQTT             *mqtt.State       `json:"mqtt"`     // null without the MQTT source
	GaugeSeries      int               `json:"gauge_series"`
	GaugeSeriesLimit int               `json:"gauge_series_limit"`
	Outputs          []pipeline.Report `json:"outputs"`
	// Events are the fleet events of the devices listed, by ident; Drains
	// the fuel drains of the last day, newest first.
	Events map[string]events.Note `json:"events,omitempty"`
	Drains []events.Drain         `json:"drains,omitempty"`
}

// drainsSince is how far back the page lists fuel drains.
const drainsSince = 24 * time.Hour

// eventsOf are the fleet events of devs, for the page's device rows.
func (p *Page) eventsOf(devs []devices.Device) map[string]events.Note {
	if p.Events == nil {
		return nil
	}
	idents := make([]string, len(devs))
	for i := range devs {
		idents[i] = devs[i].Ident
	}
	return p.Events.Notes(idents)
}

// InfluxDB is the InfluxDB output's state on the page.
type InfluxDB struct {
	URL            string `json:"url"`
	Bucket         string `json:"bucket"`
	DeadLetterFile string `json:"dead_letter_file"`
	influx.State
}

// Failing reports whether the last write failed.
func (i *InfluxDB) Failing() bool { return i.LastError != "" && i.LastErrorTime.After(i.LastWrite) }

// silentNamed is how many silent devices the attention entry names.
const silentNamed = 5

// report gathers the page's data, with the devices page q.
func (p *Page) report(q devices.Query) Report {
	m := p.Mapping()
	unmapped, rules, untrackedNames := p.Tracker.snapshot(m)
	devs, total := p.Devices.Find(q)
	silent, first := p.Devices.Silent(silentNamed)
	rep := Report{
		Version: p.Version, ConfigFile: p.ConfigFile, Started: p.Started, Now: p.Now(),
		Devices: devs, DevicesTotal: total, DevicesRefused: p.Devices.Refused(), SilentDevices: silent, SilentFirst: first,
		Unmapped: unmapped, Suggestions: groupSuggestions(unmapped), UnmappedLimit: maxUnmappedNames, UntrackedNames: untrackedNames,
		Rules: rules, GaugeSeries: p.Gauges.Count(), GaugeSeriesLimit: p.MaxSeries,
	}
	if p.Influx != nil {
		rep.InfluxDB = &InfluxDB{URL: p.InfluxURL, Bucket: p.Bucket, DeadLetterFile: p.DeadLetter, State: p.Influx.Status()}
	}
	if p.MQTT != nil {
		st := p.MQTT.Status()
		rep.MQTT = &st
	}
	if p.Outputs != nil {
		rep.Outputs = p.Outputs()
	}
	if p.Events != nil {
		rep.Events = p.eventsOf(devs)
		rep.Drains = p.Events.Drains(rep.Now.Add(-drainsSince))
	}
	rep.Attention = attention(&rep)
	return rep
}
