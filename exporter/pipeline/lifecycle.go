package pipeline

import (
	"context"
	"io"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// The lifecycle of an output, beyond taking batches: each interface is
// optional, and the wiring loops over the outputs for each, so that a new
// output is its package and one line in the wiring's list, whatever of
// these it has.

// Runner is an output with work of its own while the exporter runs (the
// device registry's saves). Run returns once ctx ends, which is after the
// last batch.
type Runner interface {
	Run(ctx context.Context)
}

// Closer is an output with clients or files to close, after the last
// batch and after its Run.
type Closer interface {
	Close()
}

// Checker is an output that can tell whether it takes writes now:
// /-/ready asks each.
type Checker interface {
	Check(ctx context.Context) error
}

// Reloader is an output that takes a reloaded configuration (/-/reload,
// SIGHUP) and returns its warnings.
type Reloader interface {
	Reload(cfg *config.Loaded) []string
}

// Exposer is an output with series of its own on /metrics, written in
// the text format straight (per-device series by the thousand, which a
// registry's Gather would copy each scrape).
type Exposer interface {
	WriteMetrics(w io.Writer) error
}

// Reporter is an output with a section on the status page.
type Reporter interface {
	Report() Report
}

// Report is an output's section of the status page: whether it works,
// what to know of it, and what needs the operator.
type Report struct {
	Output    string      `json:"output"`
	OK        bool        `json:"ok"`
	Facts     []string    `json:"facts"`
	Attention []Attention `json:"-"` // listed with the page's attention
}

// Attention is something the operator should look at, most urgent first:
// what stops storing, then what loses values, then what is left unmapped.
type Attention struct {
	Level string `json:"level"` // "bad": data is not being stored; "warn": some is lost or left out
	What  string `json:"what"`
	Fix   string `json:"fix"`
}

// Source is where a batch came from.
type Source string

// The sources.
const (
	SourceHTTP   Source = "http"   // a flespi HTTP stream
	SourceMQTT   Source = "mqtt"   // flespi's MQTT broker
	SourceImport Source = "import" // a backfill: dumps, dead letters, flespi's REST API
)
