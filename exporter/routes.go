package exporter

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// The exporter serves two listeners. The stream listener (http.listen) is
// the one flespi reaches, so it is on the internet: it serves the stream
// paths and /-/healthy, nothing that shows data. The internal listener
// (http.internal_listen) serves the operator: /metrics, the status page,
// /-/ready and /-/reload. Without an internal listener the operator's read
// surfaces move to the stream listener, behind its allow-list and tokens,
// and /-/reload is not served at all (SIGHUP reloads).

// Handler returns the routes of the stream listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range s.cfg.HTTP.Paths {
		mux.Handle(p, s.receiver)
	}
	mux.HandleFunc("/-/healthy", healthy)
	if s.cfg.HTTP.InternalListen == "" {
		s.operatorRoutes(mux, s.receiver.Guard)
	}
	return mux
}

// InternalHandler returns the routes of the internal listener.
func (s *Server) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthy", healthy)
	s.operatorRoutes(mux, func(h http.Handler) http.Handler { return h })
	mux.HandleFunc("/-/reload", s.reloadHandler)
	mux.HandleFunc("POST /api/devices/forget", s.forgetDevice)
	mux.Handle("POST /-/import", s.importHandler())
	return internalGuard(mux, s.cfg.HTTP.InternalHosts)
}

// operatorRoutes adds what is for the operator rather than for flespi,
// each handler wrapped by guard.
func (s *Server) operatorRoutes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle(s.cfg.Prometheus.Path, guard(s.metricsHandler()))
	s.status.Routes(mux, guard, s.log)
	mux.Handle("/-/ready", guard(http.HandlerFunc(s.ready)))
}

func healthy(w http.ResponseWriter, _ *http.Request) {
	_, _ = w.Write([]byte("OK\n"))
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
		if err := s.devices.WriteText(out, s.pipe.Mapping()); err != nil {
			return
		}
		var failed error
		each(s, func(e pipeline.Exposer) {
			if failed == nil {
				failed = e.WriteMetrics(out)
			}
		})
		if failed != nil {
			return
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
// loaded (it is, or the server would not run), every output that can
// check takes writes (InfluxDB), and the MQTT source, when there is one,
// is connected.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.mqtt != nil && !s.mqtt.Connected() {
		http.Error(w, "not connected to the MQTT broker", http.StatusServiceUnavailable)
		return
	}
	// Each output that can tell: InfluxDB by a write of nothing (reachable
	// is not enough, it must take this token's writes to this bucket).
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var failed string
	each(s, func(c pipeline.Checker) {
		if err := c.Check(ctx); err != nil && failed == "" {
			failed = c.(pipeline.Output).Name() + " does not take the exporter's writes: " + err.Error()
		}
	})
	if failed != "" {
		http.Error(w, failed, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("OK\n"))
}

// reloadHandler is POST /-/reload, on the internal listener only: a
// reload from the internet is not something to guard well, it is
// something not to offer (the stream listener has SIGHUP's effect nowhere).
func (s *Server) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
		return
	}
	warnings, err := s.Reload()
	if err != nil {
		http.Error(w, "the configuration was not reloaded:\n"+err.Error(), http.StatusInternalServerError)
		return
	}
	answer := "reloaded\n"
	if len(warnings) > 0 {
		answer += fmt.Sprintf("warnings (%d):\n  %s\n", len(warnings), strings.Join(warnings, "\n  "))
	}
	_, _ = w.Write([]byte(answer))
}

// forgetDevice is POST /api/devices/forget?ident=IDENT, on the internal
// listener only: the device leaves the registry (its last-message gauges
// with it) and the status page, until its next message.
func (s *Server) forgetDevice(w http.ResponseWriter, r *http.Request) {
	ident := r.URL.Query().Get("ident")
	if ident == "" {
		http.Error(w, "name the device: POST /api/devices/forget?ident=IDENT", http.StatusBadRequest)
		return
	}
	if !s.devices.Forget(ident) {
		http.Error(w, "no device "+ident, http.StatusNotFound)
		return
	}
	s.log.Info("device forgotten on request", "ident", ident)
	_, _ = w.Write([]byte("forgotten: " + ident + "\n"))
}
