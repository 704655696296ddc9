package mqtt

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the MQTT source's own metrics.
type metrics struct {
	received, acked, redelivered, rejected, held prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, connected *atomic.Bool) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_mqtt_" + name, Help: help})
	}
	m := &metrics{
		received:    counter("messages_received_total", "MQTT messages received."),
		acked:       counter("messages_acknowledged_total", "MQTT messages acknowledged (PUBACK), once their batch is stored."),
		redelivered: counter("messages_redelivered_total", "MQTT messages the broker sent again (not acknowledged before a reconnect or restart)."),
		rejected:    counter("messages_rejected_total", "MQTT payloads that are not flespi messages, kept in the rejected file and acknowledged."),
		held:        counter("batches_held_total", "Times an MQTT batch could not be stored and was held, unacknowledged, for a retry."),
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flespi_exporter_mqtt_connected",
		Help: "Whether the MQTT source is connected to the broker (1) or not (0).",
	}, func() float64 {
		if connected.Load() {
			return 1
		}
		return 0
	})
	if reg != nil {
		reg.MustRegister(m.received, m.acked, m.redelivered, m.rejected, m.held, up)
	}
	return m
}
