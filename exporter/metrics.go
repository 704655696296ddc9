package exporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// metrics are the exporter's own metrics, all prefixed flespi_exporter_.
type metrics struct {
	requests        *prometheus.CounterVec   // by path and status code
	requestDuration *prometheus.HistogramVec // by path
	inFlight        prometheus.Gauge
	messages        prometheus.Counter
	messagesSkipped *prometheus.CounterVec // by reason
	valuesSkipped   *prometheus.CounterVec // by reason
	unmapped        prometheus.Counter
	pointsWritten   prometheus.Counter
	writeDuration   prometheus.Histogram
	writeErrors     *prometheus.CounterVec // by kind: transient, rejected
	deadLetters     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flespi_exporter_requests_total",
			Help: "Stream requests answered, by path and HTTP status code (200 acknowledges the batch).",
		}, []string{"path", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flespi_exporter_request_duration_seconds",
			Help:    "Time from receiving a stream request to answering it, storage included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"path"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flespi_exporter_requests_in_flight",
			Help: "Stream requests being handled now.",
		}),
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
		pointsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_points_written_total",
			Help: "Points InfluxDB accepted.",
		}),
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flespi_exporter_write_duration_seconds",
			Help:    "Duration of one InfluxDB write request.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flespi_exporter_write_errors_total",
			Help: "Failed InfluxDB write requests, by kind: transient (the batch is answered 503 and comes again) or rejected (points refused for good).",
		}, []string{"kind"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flespi_exporter_dead_letters_total",
			Help: "Points InfluxDB refused for good, kept in the dead-letter file (or only logged without one).",
		}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.inFlight, m.messages, m.messagesSkipped,
		m.valuesSkipped, m.unmapped, m.pointsWritten, m.writeDuration, m.writeErrors, m.deadLetters)
	// Known label values start at zero, so rate() and alerts see them from the start.
	for _, r := range []string{reasonNoIdent, reasonNoTime} {
		m.messagesSkipped.WithLabelValues(r)
	}
	for _, k := range []string{errTransient, errRejected} {
		m.writeErrors.WithLabelValues(k)
	}
	for _, r := range mapping.SkipReasons {
		m.valuesSkipped.WithLabelValues(r)
	}
	return m
}

// Label values of the metrics.
const (
	reasonNoIdent = "no_ident"
	reasonNoTime  = "no_time"
	errTransient  = "transient"
	errRejected   = "rejected"
)
