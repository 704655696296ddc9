package status

import (
	"fmt"

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
		out = append(out, Attention{Level: "warn", What: fmt.Sprintf("%d parameters have no rule", n),
			Fix: "see Unmapped parameters below: paste a suggested rule into the configuration, check it and reload"})
	}
	return out
}
