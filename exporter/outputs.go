package exporter

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/remotewrite"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/exporter/status"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// outputs is the one list of the exporter's outputs. Each builds its
// output from the Server's configuration, or returns nil when it is not
// configured. The stores are written first, whatever their place here,
// then the followers are told in this order. What an output does beyond
// batches (Run, Close, Check, Reload, Report: pipeline/lifecycle.go) the
// wiring finds by itself: a new output is its package, a builder and a
// line here.
var outputs = []func(s *Server) (pipeline.Output, error){
	(*Server).influxOutput,
	(*Server).remoteWriteOutput,
	(*Server).eventsOutput, // a store after the others: events after the messages that close them
	(*Server).gaugesOutput,
	(*Server).devicesOutput,
	(*Server).statusTracker,
}

func (s *Server) influxOutput() (pipeline.Output, error) {
	if s.cfg.InfluxDB.URL == "" {
		return nil, nil
	}
	sink, err := influx.New(s.cfg.InfluxDB, s.reg, s.log)
	if err != nil {
		return nil, err
	}
	s.influx = sink.WithRules(s.cfg)
	return sink, nil
}

func (s *Server) remoteWriteOutput() (pipeline.Output, error) {
	if s.cfg.RemoteWrite.URL == "" {
		return nil, nil
	}
	names := func() (last, received *mapping.Gauge) { return s.pipe.Mapping().DeviceGauges() }
	rw, err := remotewrite.New(s.cfg.RemoteWrite, names, filepath.Join(s.cfg.Data.Dir, "remote-write-dead-letters.jsonl"), s.reg, s.log)
	s.remote = rw
	return rw, err
}

func (s *Server) eventsOutput() (pipeline.Output, error) {
	if !s.cfg.Events.Enabled {
		return nil, nil
	}
	var writers, history []events.Writer
	if s.influx != nil {
		writers = append(writers, s.influx)
		history = append(history, s.influx) // the past as points, not counters
	}
	if s.remote != nil {
		writers = append(writers, s.remote)
	}
	ev, err := events.New(events.Options{Config: s.cfg.Events, Dir: s.cfg.Data.Dir, Namespace: s.cfg.Mapping.Config().Namespace,
		Writers: writers, History: history, Now: s.now, Reg: s.reg, Log: s.log})
	if err != nil {
		return nil, err
	}
	s.events = ev
	return ev, nil
}

func (s *Server) devicesOutput() (pipeline.Output, error) {
	cfg := s.cfg
	reg, err := devices.Open(devices.Options{
		Dir: cfg.Data.Dir, ForgetAfter: time.Duration(cfg.Data.ForgetDevicesAfter), Now: s.now, Log: s.log,
		Silence: devices.NewSilencePolicy(cfg.Silence), MaxDevices: cfg.Data.MaxDevices,
	})
	if err != nil {
		return nil, err
	}
	f := promauto.With(s.reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "flespi_exporter_devices_registered", Help: "Devices in the device registry: every device seen, until data.forget_devices_after without a message."}, func() float64 { return float64(reg.Len()) })
	f.NewCounterFunc(prometheus.CounterOpts{Name: "flespi_exporter_devices_refused_total", Help: "Messages of devices not registered because the registry holds data.max_devices: stored, but without device gauges."}, func() float64 { return float64(reg.Refused()) })
	s.devices = reg
	return reg, nil
}

func (s *Server) gaugesOutput() (pipeline.Output, error) {
	s.gauges = gauges.New(s.cfg.Prometheus.MaxSeries, s.now, s.reg, s.log)
	s.gauges.CountAlso(func() int { return 3 * s.devices.Len() }) // last message, last received, silent after
	return s.gauges, nil
}

func (s *Server) statusTracker() (pipeline.Output, error) {
	s.tracker = status.NewTracker()
	return s.tracker, nil
}

// buildOutputs builds the outputs of the list.
func (s *Server) buildOutputs() ([]pipeline.Output, error) {
	var out []pipeline.Output
	for _, build := range outputs {
		o, err := build(s)
		if err != nil {
			return nil, err
		}
		if o != nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// each calls f with every output of the pipeline that is a T.
func each[T any](s *Server, f func(T)) {
	for _, o := range s.pipe.Outputs() {
		if t, ok := o.(T); ok {
			f(t)
		}
	}
}

// runOutputs starts the outputs' Run until ctx ends; wait waits for them.
func (s *Server) runOutputs(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	each(s, func(r pipeline.Runner) { wg.Go(func() { r.Run(ctx) }) })
	return wg.Wait
}

// closeOutputs closes the outputs, after the last batch.
func (s *Server) closeOutputs() { each(s, func(c pipeline.Closer) { c.Close() }) }

// reports are the outputs' sections of the status page.
func (s *Server) reports() []pipeline.Report {
	var out []pipeline.Report
	each(s, func(r pipeline.Reporter) { out = append(out, r.Report()) })
	return out
}
