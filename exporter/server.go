// Package exporter wires the parts into the running service: the sources
// (stream, mqtt) feed the pipeline, which stores into the outputs
// (influx, then gauges, devices and the status tracker); it serves the two
// listeners, reloads the rules, and stops in order. It holds no logic of
// a source, an output or the status page: each is a package of its own.
package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/remotewrite"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/exporter/source/mqtt"
	"github.com/flespi-exporter/flespi-exporter/exporter/source/stream"
	"github.com/flespi-exporter/flespi-exporter/exporter/status"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// shutdownTimeout bounds how long in-flight requests may take to finish once
// the server is asked to stop.
const shutdownTimeout = 30 * time.Second

// Server is the exporter's HTTP service.
type Server struct {
	remote   *remotewrite.Writer // nil without [remote_write]
	cfg      *config.Loaded
	reg      *prometheus.Registry
	log      *slog.Logger
	pipe     *pipeline.Pipeline
	receiver *stream.Receiver
	status   *status.Page
	gauges   *gauges.Store
	devices  *devices.Registry
	influx   *influx.Sink  // nil without InfluxDB
	events   status.Events // nil with the fleet events off
	mqtt     *mqtt.Source  // nil without mqtt.token
	tracker  *status.Tracker
	now      func() time.Time
	started  time.Time
	// runCtx ends when Run begins to stop: imports in flight stop too.
	runCtx atomic.Pointer[context.Context]

	reloadMu   sync.Mutex // one reload at a time
	rules      prometheus.Gauge
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
}

// Options are what a Server needs besides its configuration.
type Options struct {
	// Registry receives the exporter's metrics: a fresh one, never the
	// global registry.
	Registry *prometheus.Registry
	Log      *slog.Logger
	Version  string
	// Now is the clock; time.Now when nil. Tests inject their own.
	Now func() time.Time
}

// New returns a Server for cfg. It opens the device registry in the data
// directory, and the InfluxDB client (no connection is made yet) and the
// dead-letter file when they are configured.
func New(cfg *config.Loaded, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{cfg: cfg, reg: opts.Registry, log: opts.Log, now: opts.Now, started: opts.Now()}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := promauto.With(s.reg)
	f.NewGaugeVec(prometheus.GaugeOpts{Name: "flespi_exporter_build_info",
		Help: "A metric with a constant 1 value labelled by the exporter's version."}, []string{"version"}).WithLabelValues(opts.Version).Set(1)
	s.rules = f.NewGauge(prometheus.GaugeOpts{Name: "flespi_exporter_config_rules",
		Help: "Number of mapping rules in the configuration in use."})
	s.reloadOK = f.NewGauge(prometheus.GaugeOpts{Name: "flespi_exporter_config_last_reload_successful",
		Help: "Whether the last configuration load succeeded (1) or failed and the previous one is still in use (0)."})
	s.reloadTime = f.NewGauge(prometheus.GaugeOpts{Name: "flespi_exporter_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration in use was loaded, in Unix seconds."})
	s.rules.Set(float64(cfg.Mapping.NumRules()))
	s.reloadOK.Set(1)
	s.reloadTime.Set(mapping.UnixSeconds(opts.Now()))
	outs, err := s.buildOutputs()
	if err != nil {
		return nil, err
	}
	if s.pipe, err = pipeline.New(cfg.Mapping, outs, s.reg, s.log); err != nil {
		return nil, err
	}
	if cfg.MQTT.Token != "" {
		if s.mqtt, err = mqtt.New(cfg.MQTT, s.pipe, filepath.Join(cfg.Data.Dir, "mqtt-rejected.jsonl"), s.reg, s.log); err != nil {
			return nil, err
		}
	}
	s.receiver = stream.New(cfg.HTTP, s.pipe, s.reg, s.log, opts.Now)
	s.status = &status.Page{
		Version: opts.Version, ConfigFile: cfg.File, Started: s.started, Now: opts.Now,
		Tracker: s.tracker, Devices: s.devices, Mapping: s.pipe.Mapping, Gauges: s.gauges, MaxSeries: cfg.Prometheus.MaxSeries,
		Influx: s.influx, InfluxURL: cfg.InfluxDB.URL, Bucket: cfg.InfluxDB.Bucket, DeadLetter: cfg.InfluxDB.DeadLetterFile,
		MQTT: s.mqtt, Outputs: s.reports, Events: s.events,
	}
	return s, nil
}

// Reload reads the configuration file again and, when it is valid, swaps
// in its rules: batches in flight finish with the rules they started with.
// An invalid file changes nothing; its errors (file:line) are returned and
// logged, and flespi_exporter_config_last_reload_successful drops to 0.
// Only [mapping], the rules and [silence] are reloaded: other sections
// need a restart. It returns the warnings of the new configuration, the
// rules InfluxDB's field types conflict with among them, also logged.
// The field type conflicts the status page lists start anew: one the new
// rules still have comes back with its next refused value.
func (s *Server) Reload() ([]string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	next, err := config.Load(s.cfg.File)
	if err != nil {
		s.reloadOK.Set(0)
		s.log.Error("configuration reload failed; the previous configuration stays in use", "file", s.cfg.File, "err", err)
		return nil, err
	}
	warnings := append([]string(nil), next.Warnings...)
	for _, w := range next.Warnings {
		s.log.Warn("configuration", "warning", w)
	}
	if restart := sectionsChanged(s.cfg, next); len(restart) > 0 {
		s.log.Warn("configuration sections changed that only a restart applies", "sections", restart)
		warnings = append(warnings, fmt.Sprintf("sections changed that only a restart applies: %s", strings.Join(restart, ", ")))
	}
	s.pipe.SetMapping(next.Mapping)
	each(s, func(r pipeline.Reloader) { warnings = append(warnings, r.Reload(next)...) })
	s.rules.Set(float64(next.Mapping.NumRules()))
	s.reloadOK.Set(1)
	s.reloadTime.Set(mapping.UnixSeconds(s.now()))
	s.log.Info("configuration reloaded", "file", s.cfg.File, "rules", next.Mapping.NumRules())
	return warnings, nil
}

// sectionsChanged names the sections other than the rules that differ.
func sectionsChanged(old, next *config.Loaded) []string {
	var out []string
	for name, same := range map[string]bool{
		"http":         reflect.DeepEqual(old.HTTP, next.HTTP),
		"influxdb":     reflect.DeepEqual(old.InfluxDB, next.InfluxDB),
		"prometheus":   reflect.DeepEqual(old.Prometheus, next.Prometheus),
		"log":          reflect.DeepEqual(old.Log, next.Log),
		"data":         reflect.DeepEqual(old.Data, next.Data),
		"mqtt":         reflect.DeepEqual(old.MQTT, next.MQTT),
		"remote_write": reflect.DeepEqual(old.RemoteWrite, next.RemoteWrite),
		// the thresholds reload; turning events on or off takes a restart
		"events.enabled": old.Events.Enabled == next.Events.Enabled,
	} {
		if !same {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// running is a context that ends when Run begins to stop.
func (s *Server) running() context.Context {
	if c := s.runCtx.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// SaveDevices writes the device registry now (Run saves it every few
// seconds and at shutdown).
func (s *Server) SaveDevices() error { return s.devices.Save() }
