package exporter

import (
	"context"
	"errors"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
)

// checkInflux says at start whether InfluxDB takes the exporter's writes:
// a refused token, right or bucket is an error in the log that names the
// setting to fix (nothing will be stored until then, and /-/ready says
// so); InfluxDB not reachable yet is a warning (it may be starting).
func (s *Server) checkInflux() {
	if s.influx == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.influx.Check(ctx)
	var ce *influx.ConfigError
	switch {
	case errors.As(err, &ce):
		s.log.Error("InfluxDB refuses the exporter's writes: nothing is stored (and no batch acknowledged) until this is fixed", "fix", ce.Fix, "err", ce.Err)
	case err != nil:
		s.log.Warn("InfluxDB cannot be reached yet; batches are answered 503 until it can", "url", s.cfg.InfluxDB.URL, "err", err)
	}
}

// warnFieldTypes logs CheckFieldTypes' warnings for cfg, at start and
// after a reload, and returns them; that InfluxDB cannot be asked is only
// a debug line (the writes will say more).
func (s *Server) warnFieldTypes(cfg *config.Loaded) []string {
	if cfg.InfluxDB.URL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	warnings, err := influx.CheckFieldTypes(ctx, cfg)
	if err != nil {
		s.log.Debug("could not compare the rules with InfluxDB's field types", "err", err)
		return nil
	}
	for _, w := range warnings {
		s.log.Warn("a rule writes a field with another type than InfluxDB holds", "warning", w)
	}
	return warnings
}
