// Package exporter wires the configuration, the compiled rules and the
// outputs into the running service: the flespi stream receiver, the InfluxDB
// writer, the metrics and health endpoints, and an orderly shutdown.
package exporter

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/gauges"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// shutdownTimeout bounds how long in-flight requests may take to finish once
// the server is asked to stop.
const shutdownTimeout = 30 * time.Second

// Server is the exporter's HTTP service.
type Server struct {
	cfg      *config.Loaded
	reg      *prometheus.Registry
	log      *slog.Logger
	pipe     *pipeline.Pipeline
	receiver *receiver
	status   *statusTracker
	gauges   *gauges.Store
	influx   *influx.Sink // nil without InfluxDB
	now      func() time.Time
	version  string
	started  time.Time

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

// New returns a Server for cfg. It opens the InfluxDB client (no connection
// is made yet) and the dead-letter file when they are configured.
func New(cfg *config.Loaded, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{cfg: cfg, reg: opts.Registry, log: opts.Log, now: opts.Now, version: opts.Version, started: opts.Now()}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flespi_exporter_build_info",
		Help: "A metric with a constant 1 value labelled by the exporter's version.",
	}, []string{"version"})
	info.WithLabelValues(opts.Version).Set(1)
	s.rules = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flespi_exporter_config_rules",
		Help: "Number of mapping rules in the configuration in use.",
	})
	s.rules.Set(float64(cfg.Mapping.NumRules()))
	s.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flespi_exporter_config_last_reload_successful",
		Help: "Whether the last configuration load succeeded (1) or failed and the previous one is still in use (0).",
	})
	s.reloadOK.Set(1)
	s.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flespi_exporter_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration in use was loaded, in Unix seconds.",
	})
	s.reloadTime.Set(mapping.UnixSeconds(opts.Now()))
	s.reg.MustRegister(info, s.rules, s.reloadOK, s.reloadTime)
	if cfg.InfluxDB.URL != "" {
		sink, err := influx.New(cfg.InfluxDB, s.reg, s.log)
		if err != nil {
			return nil, err
		}
		s.influx = sink
	}
	s.gauges = gauges.New(cfg.Prometheus.MaxSeries, opts.Now, s.reg, s.log)
	s.status = newStatusTracker()
	s.pipe = pipeline.New(cfg.Mapping, pipeline.Outputs{Influx: s.influx, Gauges: s.gauges, Status: s.status}, s.reg, s.log)
	s.receiver = newReceiver(cfg.HTTP, s.pipe, s.influx, newReceiverMetrics(s.reg), s.log, opts.Now)
	return s, nil
}

// Handler returns the routes of the main listener: the stream paths, the
// health endpoints, and the metrics unless they have a listener of their own.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range s.cfg.HTTP.Paths {
		mux.Handle(p, s.receiver)
	}
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("OK\n"))
	})
	mux.HandleFunc("/-/ready", s.ready)
	mux.HandleFunc("/-/reload", s.reloadHandler)
	if s.cfg.Prometheus.Listen == "" {
		s.handleInternal(mux)
	}
	return mux
}

// handleInternal adds what is for the operator rather than for flespi: the
// metrics and the status page. With prometheus.listen set they are served
// there only.
func (s *Server) handleInternal(mux *http.ServeMux) {
	mux.Handle(s.cfg.Prometheus.Path, s.metricsHandler())
	mux.HandleFunc("GET /{$}", s.statusPage)
	mux.HandleFunc("GET /api/status", s.statusJSON)
}

// metricsHandler serves the device gauges, written straight from the
// gauge store, and the exporter's own metrics from the registry, in the
// text format, gzip-compressed when the scraper accepts it.
func (s *Server) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gauges.Expire()
		families, err := s.reg.Gather()
		if err != nil {
			s.log.Warn("gathering the exporter's own metrics", "err", err) // serve what was gathered
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		var out io.Writer = w
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzipPool.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() {
				gz.Close()
				gzipPool.Put(gz)
			}()
			out = gz
		}
		if err := s.gauges.WriteText(out); err != nil {
			return // the scraper went away
		}
		for _, mf := range families {
			if _, err := expfmt.MetricFamilyToText(out, mf); err != nil {
				return
			}
		}
	})
}

var gzipPool = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// ready answers 200 when batches can be stored: the configuration is
// loaded (it is, or the server would not run) and InfluxDB answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.receiver.ready(r.Context()); err != nil {
		http.Error(w, "InfluxDB is not reachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("OK\n"))
}

// Reload reads the configuration file again and, when it is valid, swaps
// in its rules: batches in flight finish with the rules they started with.
// An invalid file changes nothing; its errors (file:line) are returned and
// logged, and flespi_exporter_config_last_reload_successful drops to 0.
// Only [mapping] and the rules are reloaded: other sections need a restart.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	next, err := config.Load(s.cfg.File)
	if err != nil {
		s.reloadOK.Set(0)
		s.log.Error("configuration reload failed; the previous configuration stays in use", "file", s.cfg.File, "err", err)
		return err
	}
	for _, w := range next.Warnings {
		s.log.Warn("configuration", "warning", w)
	}
	if restart := sectionsChanged(s.cfg, next); len(restart) > 0 {
		s.log.Warn("configuration sections changed that only a restart applies", "sections", restart)
	}
	s.pipe.SetMapping(next.Mapping)
	s.rules.Set(float64(next.Mapping.NumRules()))
	s.reloadOK.Set(1)
	s.reloadTime.Set(mapping.UnixSeconds(s.now()))
	s.log.Info("configuration reloaded", "file", s.cfg.File, "rules", next.Mapping.NumRules())
	return nil
}

// sectionsChanged names the sections other than the rules that differ.
func sectionsChanged(old, next *config.Loaded) []string {
	var out []string
	for name, same := range map[string]bool{
		"http":       reflect.DeepEqual(old.HTTP, next.HTTP),
		"influxdb":   reflect.DeepEqual(old.InfluxDB, next.InfluxDB),
		"prometheus": reflect.DeepEqual(old.Prometheus, next.Prometheus),
		"log":        reflect.DeepEqual(old.Log, next.Log),
	} {
		if !same {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// reloadHandler is POST /-/reload. It is guarded like the stream paths
// (allow-list and tokens), since it listens where flespi does.
func (s *Server) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
		return
	}
	if err := s.receiver.checkClient(r); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			http.Error(w, he.msg, he.code)
			return
		}
	}
	if err := s.Reload(); err != nil {
		http.Error(w, "the configuration was not reloaded:\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("reloaded\n"))
}

// Run serves until ctx is cancelled, then stops accepting connections, lets
// in-flight batches finish and closes the InfluxDB client. Listeners are
// taken from ln when given (tests pass ones on free ports); else they are
// opened on http.listen and prometheus.listen.
func (s *Server) Run(ctx context.Context, ln *Listeners) error {
	if ln == nil {
		ln = &Listeners{}
	}
	if err := ln.open(s.cfg); err != nil {
		return err
	}
	servers := []*http.Server{s.httpServer(s.Handler())}
	listeners := []net.Listener{ln.HTTP}
	if ln.Metrics != nil {
		mux := http.NewServeMux()
		s.handleInternal(mux)
		servers = append(servers, s.httpServer(mux))
		listeners = append(listeners, ln.Metrics)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		tls := i == 0 && s.cfg.HTTP.TLSCert != "" // the stream listener only
		go func() { errc <- s.serve(srv, listeners[i], tls) }()
	}
	s.log.Info("serving", "address", ln.HTTP.Addr().String(), "paths", s.cfg.HTTP.Paths,
		"influxdb", s.cfg.InfluxDB.URL != "", "config", s.cfg.File)
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	// In order: stop accepting and finish in-flight requests, then close
	// the InfluxDB client that they write with.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		err = errors.Join(err, srv.Shutdown(shutdownCtx))
	}
	if s.influx != nil {
		s.influx.Close()
	}
	s.log.Info("stopped")
	return err
}

func (s *Server) serve(srv *http.Server, ln net.Listener, tls bool) error {
	var err error
	if tls {
		err = srv.ServeTLS(ln, s.cfg.HTTP.TLSCert, s.cfg.HTTP.TLSKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	read := time.Duration(s.cfg.HTTP.ReadTimeout)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       read,
		// Room to read the body, write it (a write and its retry), answer.
		WriteTimeout: read + 2*time.Duration(s.cfg.InfluxDB.Timeout) + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Listeners are the sockets a Server serves on; nil ones are opened from
// the configuration.
type Listeners struct {
	HTTP    net.Listener
	Metrics net.Listener // used only when prometheus.listen is set
}

func (l *Listeners) open(cfg *config.Loaded) error {
	var err error
	if l.HTTP == nil {
		if l.HTTP, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return err
		}
	}
	if cfg.Prometheus.Listen != "" && l.Metrics == nil {
		if l.Metrics, err = net.Listen("tcp", cfg.Prometheus.Listen); err != nil {
			l.HTTP.Close()
			return err
		}
	}
	return nil
}
