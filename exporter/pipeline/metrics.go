package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// metrics count what the pipeline maps, whatever the source.
type metrics struct {
	messages        prometheus.Counter
	messagesSkipped *prometheus.CounterVec // by reason
	valuesSkipped   *prometheus.CounterVec // by reason
	unmapped        prometheus.Counter
}

// Reasons a message is skipped, label values of
// flespi_exporter_messages_skipped_total.
const (
	reasonNoIdent = "no_ident"
	reasonNoTime  = "no_time"
)

// newMetrics makes the metrics and registers them with reg, unless reg is nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_messages_received_total",
			Help: "Messages received in well-formed batches.",
		}),
		messagesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flespi_exporter_messages_skipped_total",
			Help: "Messages that produced nothing, by reason (no_ident, no_time).",
		}, []string{"reason"}),
		valuesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flespi_exporter_values_skipped_total",
			Help: "Parameter values a rule matched but could not use, by reason.",
		}, []string{"reason"}),
		unmapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_parameters_unmapped_total",
			Help: "Parameter values that no rule matched.",
		}),
	}
	// Known label values start at zero, so rate() and alerts see them from the start.
	for _, r := range []string{reasonNoIdent, reasonNoTime} {
		m.messagesSkipped.WithLabelValues(r)
	}
	for _, r := range mapping.SkipReasons {
		m.valuesSkipped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.messagesSkipped, m.valuesSkipped, m.unmapped)
	}
	return m
}
