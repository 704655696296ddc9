package exporter

import (
	"context"
	"io"
	"net/http"

	"github.com/flespi-exporter/flespi-exporter/exporter/source/backfill"
)

// Close closes what New opened, for a Server that is not Run (an import
// running alone on the data directory): the outputs' clients and files,
// the device registry saved.
func (s *Server) Close() error {
	err := s.devices.Save() // its error said, not only logged: the import's result
	s.closeOutputs()
	return err
}

// Import runs an import through the wiring: the pipeline of every store
// and the registry, and the remote write output for its dead letters.
func (s *Server) Import(ctx context.Context, req backfill.Request, progress io.Writer, terminal bool) (backfill.Summary, error) {
	opts := req.Options(progress, s.log)
	opts.Terminal = terminal
	if s.remote != nil {
		opts.Replay = s.remote.Replay
	}
	s.log.Info("an import runs through the exporter", "files", req.Files, "flespi", req.Flespi != nil)
	return backfill.Import(ctx, s.pipe, s.cfg, opts)
}

// importHandler is POST /-/import: an import asked of the running
// exporter (backfill.Handler), stopped with the exporter.
func (s *Server) importHandler() http.Handler {
	return backfill.Handler(func(ctx context.Context, req backfill.Request, progress io.Writer) (backfill.Summary, error) {
		return s.Import(ctx, req, progress, false)
	}, s.running)
}
