package influx

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the InfluxDB output's own metrics.
type metrics struct {
	pointsWritten prometheus.Counter
	writeDuration prometheus.Histogram
	writeErrors   *prometheus.CounterVec // by kind: transient, rejected
	deadLetters   prometheus.Counter
	conflicts     *prometheus.CounterVec // by measurement and field
}

// Kinds of write errors, label values of flespi_exporter_write_errors_total.
const (
	errTransient = "transient"
	errRejected  = "rejected"
)

// newMetrics makes the metrics, registered with reg unless reg is nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		pointsWritten: f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_points_written_total", Help: "Points InfluxDB accepted."}),
		writeDuration: f.NewHistogram(prometheus.HistogramOpts{Name: "flespi_exporter_write_duration_seconds", Help: "Duration of one InfluxDB write request.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		writeErrors:   f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_write_errors_total", Help: "Failed InfluxDB write requests, by kind: transient (the batch is answered 503 and comes again) or rejected (points refused for good)."}, []string{"kind"}),
		deadLetters:   f.NewCounter(prometheus.CounterOpts{Name: "flespi_exporter_dead_letters_total", Help: "Values or points InfluxDB refused for good, kept in the dead-letter file (or only logged without one)."}),
		conflicts:     f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_field_type_conflicts_total", Help: "Values InfluxDB refused because it holds their field with another type (a rule's type changed), by measurement and field."}, []string{"measurement", "field"}),
	}
	// Known label values start at zero, so rate() and alerts see them from the start.
	for _, k := range []string{errTransient, errRejected} {
		m.writeErrors.WithLabelValues(k)
	}
	return m
}
