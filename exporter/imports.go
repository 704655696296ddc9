package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/source/backfill"
)

// Close closes what New opened, for a Server that is not Run (an import
// running alone on the data directory): the outputs' clients and files,
// the device registry saved.
func (s *Server) Close() error {
	s.closeOutputs()
	return nil
}

// Import runs an import through the wiring: the pipeline of every store
// and the registry, and the remote write output for its dead letters.
func (s *Server) Import(ctx context.Context, req backfill.Request, progress io.Writer, terminal bool) (backfill.Summary, error) {
	opts := req.Options(progress, s.log)
	opts.Terminal = terminal
	if s.remote != nil {
		opts.Replay = s.remote.Replay
	}
	return backfill.Import(ctx, s.pipe, s.cfg, opts)
}

// ImportResultPrefix starts the last line of an answer of /-/import: the
// import's Summary and error, as JSON. The lines before are its progress.
const ImportResultPrefix = "result: "

// ImportResult is what that line holds.
type ImportResult struct {
	Summary backfill.Summary `json:"summary"`
	Error   string           `json:"error,omitempty"`
}

// importHandler runs an import through the exporter's pipeline (POST
// /-/import on the internal listener, which `flespi-exporter import` asks
// while the exporter holds the data directory), answering its progress as
// it goes and its result last. It ends with the request (the import
// command interrupted) or with the exporter.
func (s *Server) importHandler(w http.ResponseWriter, r *http.Request) {
	var req backfill.Request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "not an import request: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a backfill takes hours, not the listener's write timeout
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.running(), cancel)
	defer stop()
	out := &flushWriter{w: w, rc: rc}
	s.log.Info("an import runs through the exporter", "files", req.Files, "flespi", req.Flespi != nil)
	sum, err := s.Import(ctx, req, out, false)
	res := ImportResult{Summary: sum}
	if err != nil {
		res.Error = err.Error()
	}
	line, _ := json.Marshal(res)
	fmt.Fprintf(out, "%s%s\n", ImportResultPrefix, line)
}

// flushWriter sends each write at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
