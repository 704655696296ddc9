package exporter

import "github.com/prometheus/client_golang/prometheus"

// receiverMetrics are the stream receiver's own metrics; what it maps and
// stores is counted by the pipeline and the outputs.
type receiverMetrics struct {
	requests        *prometheus.CounterVec   // by path and status code
	requestDuration *prometheus.HistogramVec // by path
	inFlight        prometheus.Gauge
}

func newReceiverMetrics(reg prometheus.Registerer) *receiverMetrics {
	m := &receiverMetrics{
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
	}
	reg.MustRegister(m.requests, m.requestDuration, m.inFlight)
	return m
}
