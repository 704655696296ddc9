package mqtt

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counts are the source's counters: read by its metrics and by Status.
type counts struct {
	received, acked, redelivered, rejected, held atomic.Uint64
}

func registerMetrics(reg prometheus.Registerer, c *counts, connected *atomic.Bool) {
	if reg == nil {
		return
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flespi_exporter_mqtt_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		counter("messages_received_total", "MQTT messages received.", &c.received),
		counter("messages_acknowledged_total", "MQTT messages acknowledged (PUBACK), once their batch is stored.", &c.acked),
		counter("messages_redelivered_total", "MQTT messages the broker sent again (not acknowledged before a reconnect or restart).", &c.redelivered),
		counter("messages_rejected_total", "MQTT payloads that are not flespi messages, kept in the rejected file and acknowledged.", &c.rejected),
		counter("batches_held_total", "Times an MQTT batch could not be stored and was held, unacknowledged, for a retry.", &c.held),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flespi_exporter_mqtt_connected",
			Help: "Whether the MQTT source is connected to the broker (1) or not (0).",
		}, func() float64 {
			if connected.Load() {
				return 1
			}
			return 0
		}),
	)
}

// State is what the status page shows of the MQTT source.
type State struct {
	URL       string   `json:"url"`
	ClientID  string   `json:"client_id"`
	Topics    []string `json:"topics"`
	Connected bool     `json:"connected"`
	// Since is when the source connected, or when it lost the
	// connection; zero before the first attempt ends.
	Since         time.Time `json:"since"`
	LastError     string    `json:"last_error"`
	LastErrorTime time.Time `json:"last_error_time"`
	// Subscriptions are what the broker refused or granted at QoS 0
	// only, at the last connection.
	Subscriptions []string `json:"subscription_problems,omitempty"`
	Received      uint64   `json:"messages_received"`
	Acknowledged  uint64   `json:"messages_acknowledged"`
	Redelivered   uint64   `json:"messages_redelivered"`
	Rejected      uint64   `json:"messages_rejected"`
	BatchesHeld   uint64   `json:"batches_held"`
}

// connState is the connection's side of State, set as it changes.
type connState struct {
	mu            sync.Mutex
	since         time.Time
	lastError     string
	lastErrorTime time.Time
	subscriptions []string
}

func (c *connState) subscribed(problems []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subscriptions = problems
}

func (c *connState) changed(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.since = at
}

func (c *connState) failed(at time.Time, err string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastError, c.lastErrorTime = err, at
}

// Status is the source's state now.
func (s *Source) Status() State {
	s.state.mu.Lock()
	st := State{Since: s.state.since, LastError: s.state.lastError, LastErrorTime: s.state.lastErrorTime, Subscriptions: s.state.subscriptions}
	s.state.mu.Unlock()
	st.URL, st.ClientID, st.Topics = s.cfg.URL, s.cfg.ClientID, s.subscriptionTopics()
	st.Connected = s.connected.Load()
	st.Received, st.Acknowledged, st.Redelivered = s.n.received.Load(), s.n.acked.Load(), s.n.redelivered.Load()
	st.Rejected, st.BatchesHeld = s.n.rejected.Load(), s.n.held.Load()
	return st
}
