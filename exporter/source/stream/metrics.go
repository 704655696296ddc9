package stream

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// receiverMetrics are the stream receiver's own metrics; what it maps and
// stores is counted by the pipeline and the outputs.
type receiverMetrics struct {
	requests        *prometheus.CounterVec   // by path and status code
	requestDuration *prometheus.HistogramVec // by path
	inFlight        prometheus.Gauge
}

func newReceiverMetrics(reg prometheus.Registerer, budget *byteBudget) *receiverMetrics {
	f := promauto.With(reg)
	m := &receiverMetrics{
		requests:        f.NewCounterVec(prometheus.CounterOpts{Name: "flespi_exporter_requests_total", Help: "Stream requests answered, by path and HTTP status code (200 acknowledges the batch)."}, []string{"path", "code"}),
		requestDuration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "flespi_exporter_request_duration_seconds", Help: "Time from receiving a stream request to answering it, storage included.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"path"}),
		inFlight:        f.NewGauge(prometheus.GaugeOpts{Name: "flespi_exporter_requests_in_flight", Help: "Stream requests being handled now."}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flespi_exporter_in_flight_bytes", Help: "Body bytes (decompressed) that stream requests hold now, read or being read (http.max_in_flight_bytes caps them)."}, func() float64 { return float64(budget.inUse()) })
	return m
}
