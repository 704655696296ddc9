package exporter

import (
	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// OpenListeners opens and closes the listeners of cfg, for the tests of
// what a port taken already says.
func OpenListeners(cfg *config.Loaded) error {
	l := &Listeners{}
	if err := l.open(cfg); err != nil {
		return err
	}
	l.Stream.Close()
	if l.Internal != nil {
		l.Internal.Close()
	}
	return nil
}

// AddOutput puts one more output in the wiring's list, as a new output's
// line would, until the test ends.
func AddOutput(t interface{ Cleanup(func()) }, build func() (pipeline.Output, error)) {
	old := outputs
	outputs = append(append([]func(*Server) (pipeline.Output, error){}, outputs...), func(*Server) (pipeline.Output, error) { return build() })
	t.Cleanup(func() { outputs = old })
}
