package mapping

import (
	"strings"
	"time"
)

// deviceGauges are the gauges that every stored message of a device
// updates, whatever the rules say; see DeviceGauges. Their names are the
// rule language's (no rule may take them); the device registry, which
// serves them, has their help.
type deviceGauges struct {
	last, received, silentAfter *Gauge
}

func newDeviceGauges(cfg Config) deviceGauges {
	ttl := cfg.GaugeTTL.Duration
	if cfg.GaugeTTL.Never {
		ttl = 0
	}
	return deviceGauges{
		last:        &Gauge{Name: cfg.Namespace + "_device_last_message_timestamp_seconds", TTL: ttl},
		received:    &Gauge{Name: cfg.Namespace + "_device_last_received_timestamp_seconds", TTL: ttl},
		silentAfter: &Gauge{Name: cfg.Namespace + "_device_silent_after_seconds", TTL: ttl},
	}
}

// SilenceGauge is the device gauge of each device's silence: see
// HelpSilentAfter.
func (m *Mapping) SilenceGauge() *Gauge { return m.devices.silentAfter }

// DeviceGauges returns the gauges every stored message updates: the
// device time of the device's newest message, and when the exporter last
// received one. They are built once per Mapping and shared, like the
// Gauge of a rule.
func (m *Mapping) DeviceGauges() (last, received *Gauge) {
	return m.devices.last, m.devices.received
}

// UnixSeconds is t as fractional Unix seconds. Whole seconds and the
// fraction are converted apart: 1717171200.25 stays exactly that.
func UnixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// reservedGauge reports whether a gauge name belongs to the exporter: its
// own metrics (<namespace>_exporter_*) and the device gauges. The gauge
// store writes /metrics by hand, with no registry to catch a second family
// of one name, so a rule must not make one.
func (m *Mapping) reservedGauge(name string) bool {
	return strings.HasPrefix(name, m.cfg.Namespace+"_exporter_") ||
		name == m.devices.last.Name || name == m.devices.received.Name || name == m.devices.silentAfter.Name
}
