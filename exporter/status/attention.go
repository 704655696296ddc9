package status

import "fmt"

// Attention is something the operator should look at, most urgent first:
// what stops storing, then what loses values, then what is left unmapped.
type Attention struct {
	Level string `json:"level"` // "bad": data is not being stored; "warn": some is lost or left out
	What  string `json:"what"`
	Fix   string `json:"fix"`
}

// attention lists what in rep needs the operator.
func attention(rep *Report) []Attention {
	var out []Attention
	if i := rep.InfluxDB; i != nil && i.ConfigError != "" {
		out = append(out, Attention{"bad", "InfluxDB refuses the exporter's writes: nothing is stored", i.ConfigError})
	} else if i != nil && i.Failing() {
		out = append(out, Attention{"bad", "InfluxDB is failing: " + i.LastError,
			"batches are not acknowledged until it stores them (flespi and the MQTT broker keep them); check influxdb.url, INFLUXDB_TOKEN and INFLUXDB_BUCKET"})
	}
	if m := rep.MQTT; m != nil && !m.Connected {
		what := "the MQTT source is not connected"
		if m.LastError != "" {
			what += ": " + m.LastError
		}
		out = append(out, Attention{"bad", what, "the broker keeps the messages until the exporter connects; check mqtt.url and FLESPI_TOKEN"})
	}
	if m := rep.MQTT; m != nil {
		for _, p := range m.Subscriptions {
			out = append(out, Attention{"bad", "MQTT subscription " + p,
				"give the token's ACL the right to subscribe to mqtt.topics at QoS 1 (flespi panel → Tokens)"})
		}
	}
	if rep.DevicesRefused > 0 {
		out = append(out, Attention{"warn", fmt.Sprintf("the device registry is full: %d messages of new devices were stored but not registered", rep.DevicesRefused),
			"no silence alert covers those devices: raise data.max_devices, or forget devices that are gone"})
	}
	if i := rep.InfluxDB; i != nil {
		if n := len(i.Conflicts); n > 0 {
			out = append(out, Attention{"warn", fmt.Sprintf("%d fields have a type conflict with InfluxDB", n),
				"see Field type conflicts below"})
		}
		if i.DeadLetters > 0 {
			fix := "fix the cause, then replay them with flespi-exporter import"
			if i.DeadLetterFile != "" {
				fix += " " + i.DeadLetterFile
			}
			out = append(out, Attention{"warn", fmt.Sprintf("%d values were refused by InfluxDB and kept as dead letters", i.DeadLetters), fix})
		}
	}
	if rep.GaugeSeriesLimit > 0 && rep.GaugeSeries*10 >= rep.GaugeSeriesLimit*9 {
		out = append(out, Attention{"warn", fmt.Sprintf("%d gauge series of at most %d", rep.GaugeSeries, rep.GaugeSeriesLimit),
			"past prometheus.max_series new series are refused: raise it, or map fewer gauges"})
	}
	if n := len(rep.Unmapped); n > 0 {
		out = append(out, Attention{"warn", fmt.Sprintf("%d parameters have no rule", n),
			"see Unmapped parameters below: paste a suggested rule into the configuration, check it and reload"})
	}
	return out
}
