package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/remotewrite"
)

// Run serves until ctx is cancelled, then stops accepting connections, lets
// in-flight batches finish and closes the InfluxDB client. Listeners are
// taken from ln when given (tests pass ones on free ports); else they are
// opened on http.listen and http.internal_listen.
func (s *Server) Run(ctx context.Context, ln *Listeners) error {
	if ln == nil {
		ln = &Listeners{}
	}
	if err := ln.open(s.cfg); err != nil {
		return err
	}
	s.runCtx.Store(&ctx)
	servers := []*http.Server{s.httpServer(s.Handler())}
	listeners := []net.Listener{ln.Stream}
	if ln.Internal != nil {
		servers = append(servers, s.httpServer(s.InternalHandler()))
		listeners = append(listeners, ln.Internal)
	}
	s.warnOpen()
	// The outputs' own work runs until after the last batch (the
	// registry's last save comes after it).
	outputsCtx, stopOutputs := context.WithCancel(context.Background())
	waitOutputs := s.runOutputs(outputsCtx)
	mqttDone := make(chan struct{})
	mqttCtx, stopMQTT := context.WithCancel(context.Background())
	if s.mqtt == nil {
		close(mqttDone)
	} else {
		go func() {
			defer close(mqttDone)
			if err := s.mqtt.Run(mqttCtx); err != nil {
				s.log.Error("the MQTT source stopped", "err", err)
			}
		}()
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		tls := i == 0 && s.cfg.HTTP.TLSCert != "" // the stream listener only
		go func() { errc <- s.serve(srv, listeners[i], tls) }()
	}
	internal := ""
	if ln.Internal != nil {
		internal = ln.Internal.Addr().String()
	}
	s.log.Info("serving", "address", ln.Stream.Addr().String(), "paths", s.cfg.HTTP.Paths, "internal", internal,
		"influxdb", s.cfg.InfluxDB.URL != "", "mqtt", s.mqtt != nil, "config", s.cfg.File)
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
	stopMQTT() // a batch being stored is given up unacknowledged: the broker keeps it
	<-mqttDone
	stopOutputs() // the last save, after the last batch
	waitOutputs()
	s.closeOutputs()
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
		// Room to read the body, write it (a write and its retry, the
		// remote write's time), answer.
		WriteTimeout: read + 2*time.Duration(s.cfg.InfluxDB.Timeout) + remotewrite.StoreTime(s.cfg.RemoteWrite) + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Listeners are the sockets a Server serves on; nil ones are opened from
// the configuration.
type Listeners struct {
	Stream   net.Listener // http.listen: the stream paths, for flespi
	Internal net.Listener // http.internal_listen: the operator's; used only when that is set
}

func (l *Listeners) open(cfg *config.Loaded) error {
	var err error
	if l.Stream == nil {
		if l.Stream, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("the stream listener cannot listen on %s (http.listen, FLESPI_EXPORTER_LISTEN): %w", cfg.HTTP.Listen, err)
		}
	}
	if cfg.HTTP.InternalListen == "" {
		if l.Internal != nil {
			l.Internal.Close()
			l.Internal = nil
		}
		return nil
	}
	if l.Internal == nil {
		if l.Internal, err = net.Listen("tcp", cfg.HTTP.InternalListen); err != nil {
			l.Stream.Close()
			return fmt.Errorf("the internal listener cannot listen on %s (http.internal_listen, FLESPI_EXPORTER_INTERNAL_LISTEN): %w", cfg.HTTP.InternalListen, err)
		}
	}
	return nil
}

// warnOpen says at start what a stranger who finds the stream port can do.
func (s *Server) warnOpen() {
	h := &s.cfg.HTTP
	if len(h.Tokens) == 0 {
		s.log.Warn("the stream listener accepts batches without a token: anyone who reaches it can write data; set http.tokens (FLESPI_EXPORTER_TOKEN) and the same token on the flespi stream",
			"listen", h.Listen, "allow_cidrs", h.AllowCIDRs)
	}
	if h.InternalListen == "" && len(h.Tokens) == 0 && len(h.AllowCIDRs) == 0 {
		s.log.Warn("the status page and /metrics are served on the stream listener to anyone: set http.internal_listen, or http.tokens or http.allow_cidrs")
	}
}
