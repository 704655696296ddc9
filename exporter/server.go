// Package exporter wires the configuration, the compiled rules and the
// outputs into the running service: its HTTP server, its metrics, and (in
// later stages) the flespi stream receiver and the InfluxDB writer.
package exporter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// shutdownTimeout bounds how long in-flight requests may take to finish once
// the server is asked to stop.
const shutdownTimeout = 20 * time.Second

// Server is the exporter's HTTP service.
type Server struct {
	cfg     *config.Loaded
	reg     *prometheus.Registry
	log     *slog.Logger
	version string
}

// New returns a Server for cfg that registers its metrics in reg (a fresh
// registry: the exporter never uses the global one).
func New(cfg *config.Loaded, reg *prometheus.Registry, log *slog.Logger, version string) *Server {
	s := &Server{cfg: cfg, reg: reg, log: log, version: version}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flespi_exporter_build_info",
		Help: "A metric with a constant 1 value labelled by the exporter's version.",
	}, []string{"version"})
	info.WithLabelValues(version).Set(1)
	rules := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flespi_exporter_config_rules",
		Help: "Number of mapping rules in the loaded configuration.",
	})
	rules.Set(float64(len(cfg.Mapping.Rules())))
	reg.MustRegister(info, rules)
	return s
}

// Handler returns the routes of the service.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(s.cfg.Prometheus.Path, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("OK\n"))
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("OK\n"))
	})
	return mux
}

// Run serves until ctx is cancelled, then stops accepting connections and
// lets in-flight requests finish. A listener is taken from listen when it is
// not nil (tests pass one on a free port), else opened on [http].listen.
func (s *Server) Run(ctx context.Context, listen net.Listener) error {
	if listen == nil {
		var err error
		if listen, err = net.Listen("tcp", s.cfg.HTTP.Listen); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Duration(s.cfg.HTTP.ReadTimeout),
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(listen) }()
	s.log.Info("serving", "address", listen.Addr().String(), "metrics", s.cfg.Prometheus.Path, "config", s.cfg.File)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.log.Info("stopped")
	return err
}
