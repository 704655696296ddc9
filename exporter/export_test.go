package exporter

import "github.com/flespi-exporter/flespi-exporter/config"

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
