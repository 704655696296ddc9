package status

import (
	"fmt"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// Attention is something the operator should look at, most urgent first:
// what stops storing, then what loses values, then what is left unmapped.
type Attention = pipeline.Attention

// attention lists what in rep needs the operator.
func attention(rep *Report) []Attention {
	var out, later []Attention
	for _, o := range rep.Outputs { // what stops storing first
		for _, a := range o.Attention {
			if a.Level == "bad" {
				out = append(out, a)
			} else {
				later = append(later, a)
			}
		}
	}
	if m := rep.MQTT; m != nil && !m.Connected {
		what := "the MQTT source is not connected"
		if m.LastError != "" {
			what += ": " + m.LastError
		}
		out = append(out, Attention{Level: "bad", What: what, Fix: "the broker keeps the messages until the exporter connects; check mqtt.url and FLESPI_TOKEN"})
	}
	if m := rep.MQTT; m != nil {
		for _, p := range m.Subscriptions {
			out = append(out, Attention{Level: "bad", What: "MQTT subscription " + p,
				Fix: "give the token's ACL the right to subscribe to mqtt.topics at QoS 1 (flespi panel → Tokens)"})
		}
	}
	if n := rep.SilentDevices; n > 0 {
		out = append(out, Attention{Level: "warn", What: plural(n, "device is", "devices are") + " silent past their own silence: " + silentNames(rep),
			Fix: "the Devices table below lists the most overdue first (silent only: tick the box); FlespiDeviceSilent fires for each"})
	}
	if n := len(rep.Drains); n > 0 {
		d := rep.Drains[0]
		out = append(out, Attention{Level: "warn",
			What: fmt.Sprintf("%s in the last 24 hours, the newest %.0f L from %s at %s", plural(n, "fuel drain", "fuel drains"), d.Litres, deviceName(d.Name, d.Ident), d.Start.Format("2006-01-02 15:04 MST")),
			Fix:  "check the vehicles; flespi-exporter status lists them all, flespi_events (event = 'drain') has each, FlespiFuelDrain fires for each"})
	}
	if rep.DevicesRefused > 0 {
		out = append(out, Attention{Level: "warn", What: fmt.Sprintf("the device registry is full: %d messages of new devices were stored but not registered", rep.DevicesRefused),
			Fix: "no silence alert covers those devices: raise data.max_devices, or forget devices that are gone"})
	}
	out = append(out, later...)
	if rep.GaugeSeriesLimit > 0 && rep.GaugeSeries*10 >= rep.GaugeSeriesLimit*9 {
		out = append(out, Attention{Level: "warn", What: fmt.Sprintf("%d gauge series of at most %d", rep.GaugeSeries, rep.GaugeSeriesLimit),
			Fix: "past prometheus.max_series new series are refused: raise it, or map fewer gauges"})
	}
	if n := len(rep.Unmapped); n > 0 {
		out = append(out, Attention{Level: "warn", What: plural(n, "parameter has", "parameters have") + " no rule",
			Fix: "see Unmapped parameters below: paste a suggested rule into the configuration, check it and reload"})
	}
	return out
}

// deviceName is "name (ident)", or the ident alone.
func deviceName(name, ident string) string {
	if name == "" {
		return ident
	}
	return name + " (" + ident + ")"
}

// silentNames names the most overdue silent devices: "Van 7 (352093081234567), 18m of 15m, ...".
func silentNames(rep *Report) string {
	var parts []string
	for _, d := range rep.SilentFirst {
		name := d.Ident
		if d.Name != "" {
			name = d.Name + " (" + d.Ident + ")"
		}
		parts = append(parts, fmt.Sprintf("%s, %s of %s", name, span(rep.Now.Sub(d.LastReceived)), span(time.Duration(d.SilentAfter*float64(time.Second)))))
	}
	s := strings.Join(parts, "; ")
	if more := rep.SilentDevices - len(rep.SilentFirst); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// span writes a duration for people: 45s, 18m, 5h, 3d.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// plural is "1 device is" or "3 devices are".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
