package influx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// The InfluxDB output's part in the exporter's lifecycle
// (pipeline/lifecycle.go): at start it says whether InfluxDB takes the
// writes and whether the rules' field types match what it holds; a reload
// checks the new rules; /-/ready asks Check; the status page its Report.

// WithRules gives the sink the configuration whose rules it checks
// against InfluxDB's field types at start.
func (s *Sink) WithRules(cfg *config.Loaded) *Sink {
	s.rules = cfg
	return s
}

// Run checks InfluxDB at start, then waits for the end.
func (s *Sink) Run(ctx context.Context) {
	s.checkAtStart(ctx)
	if s.rules != nil {
		s.warnFieldTypes(ctx, s.rules)
	}
	<-ctx.Done()
}

// checkAtStart says whether InfluxDB takes the exporter's writes: a
// refused token, right or bucket is an error in the log that names the
// setting to fix (nothing will be stored until then, and /-/ready says
// so); InfluxDB not reachable yet is a warning (it may be starting).
func (s *Sink) checkAtStart(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := s.Check(ctx)
	var ce *ConfigError
	switch {
	case errors.As(err, &ce):
		s.log.Error("InfluxDB refuses the exporter's writes: nothing is stored (and no batch acknowledged) until this is fixed", "fix", ce.Fix, "err", ce.Err)
	case err != nil:
		s.log.Warn("InfluxDB cannot be reached yet; batches are answered 503 until it can", "url", s.url, "err", err)
	}
}

// Reload starts the field type conflicts anew and checks the new rules
// against InfluxDB's field types: its warnings. The InfluxDB in use stays
// (a change of [influxdb] waits for a restart).
func (s *Sink) Reload(next *config.Loaded) []string {
	s.ResetConflicts()
	inUse := *next
	if s.rules != nil {
		inUse.InfluxDB = s.rules.InfluxDB
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.warnFieldTypes(ctx, &inUse)
}

// warnFieldTypes logs CheckFieldTypes' warnings for cfg and returns them;
// that InfluxDB cannot be asked is only a debug line (the writes will say
// more).
func (s *Sink) warnFieldTypes(ctx context.Context, cfg *config.Loaded) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	warnings, err := CheckFieldTypes(ctx, cfg)
	if err != nil {
		s.log.Debug("could not compare the rules with InfluxDB's field types", "err", err)
		return nil
	}
	for _, w := range warnings {
		s.log.Warn("a rule writes a field with another type than InfluxDB holds", "warning", w)
	}
	return warnings
}

// Report is the output's section of the status page, and what of it
// needs the operator.
func (s *Sink) Report() pipeline.Report {
	st := s.Status()
	failing := st.LastError != "" && st.LastErrorTime.After(st.LastWrite)
	r := pipeline.Report{Output: s.Name(), OK: st.ConfigError == "" && !failing,
		Facts: []string{s.url + " bucket " + s.bucket, "last write " + when(st.LastWrite)}}
	switch {
	case st.ConfigError != "":
		r.Attention = append(r.Attention, pipeline.Attention{Level: "bad", What: "InfluxDB refuses the exporter's writes: nothing is stored", Fix: st.ConfigError})
	case failing:
		r.Attention = append(r.Attention, pipeline.Attention{Level: "bad", What: "InfluxDB is failing: " + st.LastError,
			Fix: "batches are not acknowledged until it stores them (flespi and the MQTT broker keep them); check influxdb.url, INFLUXDB_TOKEN and INFLUXDB_BUCKET"})
	}
	if n := len(st.Conflicts); n > 0 {
		r.Attention = append(r.Attention, pipeline.Attention{Level: "warn", What: fmt.Sprintf("%d fields have a type conflict with InfluxDB", n),
			Fix: "see Field type conflicts below"})
	}
	if st.DeadLetters > 0 {
		fix := "fix the cause, then replay them with flespi-exporter import"
		if s.deadPath != "" {
			fix += " " + s.deadPath
		}
		r.Attention = append(r.Attention, pipeline.Attention{Level: "warn", What: fmt.Sprintf("%d values were refused by InfluxDB and kept as dead letters", st.DeadLetters), Fix: fix})
	}
	return r
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
