package exporter

import (
	"context"
	"errors"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
)

// CheckFieldTypes compares cfg's rules with the field types InfluxDB
// already holds and returns a warning, "file:line: key: message", for
// each rule whose values InfluxDB would refuse: a type changed since the
// field was first written. It needs influxdb.url.
func CheckFieldTypes(ctx context.Context, cfg *config.Loaded) ([]string, error) {
	if cfg.InfluxDB.URL == "" {
		return nil, errors.New("influxdb.url is empty: there is no InfluxDB to compare the rules with")
	}
	held, err := influx.FieldTypes(ctx, cfg.InfluxDB, cfg.Mapping.Measurements())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range cfg.Mapping.TypeConflicts(held) {
		out = append(out, cfg.Locate(e))
	}
	return out, nil
}

// warnFieldTypes logs CheckFieldTypes' warnings for cfg, at start and
// after a reload; that InfluxDB cannot be asked is only a debug line (the
// writes will say more).
func (s *Server) warnFieldTypes(cfg *config.Loaded) {
	if cfg.InfluxDB.URL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	warnings, err := CheckFieldTypes(ctx, cfg)
	if err != nil {
		s.log.Debug("could not compare the rules with InfluxDB's field types", "err", err)
		return
	}
	for _, w := range warnings {
		s.log.Warn("a rule writes a field with another type than InfluxDB holds", "warning", w)
	}
}
