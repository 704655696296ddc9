package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/flespi-exporter/flespi-exporter/config"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// ConfigError is a write InfluxDB refused for the exporter's configuration,
// not for what it carried: a token it does not accept (401), one without
// the right to write the bucket (403), a bucket or database that does not
// exist (404). Every write fails alike until the configuration is fixed:
// the exporter is not ready, and Fix says which setting to change.
type ConfigError struct {
	Status int
	Fix    string
	Err    error
}

func (e *ConfigError) Error() string { return e.Fix + " (InfluxDB answered: " + e.Err.Error() + ")" }
func (e *ConfigError) Unwrap() error { return e.Err }

// Setting is what to change (pipeline.Setting).
func (e *ConfigError) Setting() string { return e.Fix }

// configError returns err as a *ConfigError when InfluxDB refused it for
// the configuration, else err.
func (s *Sink) configError(err error) error {
	var he *ihttp.Error
	if !errors.As(err, &he) {
		return err
	}
	var fix string
	switch he.StatusCode {
	case http.StatusUnauthorized:
		fix = "InfluxDB refused the token: check INFLUXDB_TOKEN (influxdb.token; for InfluxDB 1.x \"user:password\")"
	case http.StatusForbidden:
		fix = fmt.Sprintf("the token may not write to bucket %q: give INFLUXDB_TOKEN write access to it, or check INFLUXDB_BUCKET (influxdb.bucket)", s.bucket)
	case http.StatusNotFound:
		fix = fmt.Sprintf("InfluxDB has no bucket %q (org %q): check INFLUXDB_BUCKET and INFLUXDB_ORG (influxdb.bucket, influxdb.org); with InfluxDB 1.x the bucket is \"database/retention-policy\" and the database must exist", s.bucket, s.org)
	default:
		return err
	}
	return &ConfigError{Status: he.StatusCode, Fix: fix, Err: err}
}

// Check asks InfluxDB whether it takes this configuration's writes, by
// writing nothing: InfluxDB checks the token and the bucket before it
// reads the body (1.8 answers 204; a server that wants points answers
// 400, past those checks, which counts as fine here). It returns a
// *ConfigError for a refused token, right or bucket, another error when
// InfluxDB cannot be reached, and nil otherwise. /-/ready, the start and
// `check -influx` use it.
func (s *Sink) Check(ctx context.Context) error {
	err := s.api.WriteRecord(ctx, "")
	if err == nil {
		s.noteFault(nil)
		return nil
	}
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode == http.StatusBadRequest {
		s.noteFault(nil)
		return nil
	}
	err = s.configError(err)
	var ce *ConfigError
	if errors.As(err, &ce) {
		s.noteFault(ce)
	}
	return err
}

// CheckWrites is Check for a configuration, without a running Sink
// (`check -influx`).
func CheckWrites(ctx context.Context, cfg config.InfluxDB) error {
	cfg.DeadLetterFile = "" // nothing is written
	s, err := New(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Check(ctx)
}

// noteFault keeps the configuration fault of the last write or check,
// nil once one succeeds.
func (s *Sink) noteFault(ce *ConfigError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = ce
}

// Fault is the configuration fault of the last write or check: nil unless
// InfluxDB refused the token, its rights or the bucket.
func (s *Sink) Fault() *ConfigError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}
