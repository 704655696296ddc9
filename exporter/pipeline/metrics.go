package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// metrics count what the pipeline maps, whatever the source, and what
// each store did with it.
type metrics struct {
	messages        prometheus.Counter
	messagesSkipped *prometheus.CounterVec // by reason
	valuesSkipped   *prometheus.CounterVec // by reason
	unmapped        prometheus.Counter
	stored          *prometheus.CounterVec // by output
	refused         *prometheus.CounterVec // by output
}

// Reasons a message is skipped, label values of
// flespi_exporter_messages_skipped_total.
const (
	reasonNoIdent = "no_ident"
	reasonNoTime  = "no_time"
)

// newMetrics makes the metrics, registered with reg unless reg is nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		messages:        f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_messages_received_total", Help: "Messages received in well-formed batches."}),
		messagesSkipped: f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_messages_skipped_total", Help: "Messages that produced nothing, by reason (no_ident, no_time)."}, []string{"reason"}),
		valuesSkipped:   f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_values_skipped_total", Help: "Parameter values a rule matched but could not use, by reason."}, []string{"reason"}),
		unmapped:        f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_parameters_unmapped_total", Help: "Parameter values that no rule matched."}),
		stored:          f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_output_stored_total", Help: "What each store holds of the batches, in its unit (influxdb: points; remote_write: samples)."}, []string{"output"}),
		refused:         f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_output_refused_total", Help: "What each store refused for good, in its unit, kept in its dead-letter file: the rest of the batch is stored and answered 200."}, []string{"output"}),
	}
	// Known label values start at zero, so rate() and alerts see them from the start.
	for _, r := range []string{reasonNoIdent, reasonNoTime} {
		m.messagesSkipped.WithLabelValues(r)
	}
	for _, r := range mapping.SkipReasons {
		m.valuesSkipped.WithLabelValues(r)
	}
	return m
}
