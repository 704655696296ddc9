package exporter

import (
	"context"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
)

// warnFieldTypes logs CheckFieldTypes' warnings for cfg, at start and
// after a reload; that InfluxDB cannot be asked is only a debug line (the
// writes will say more).
func (s *Server) warnFieldTypes(cfg *config.Loaded) {
	if cfg.InfluxDB.URL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	warnings, err := influx.CheckFieldTypes(ctx, cfg)
	if err != nil {
		s.log.Debug("could not compare the rules with InfluxDB's field types", "err", err)
		return
	}
	for _, w := range warnings {
		s.log.Warn("a rule writes a field with another type than InfluxDB holds", "warning", w)
	}
}
