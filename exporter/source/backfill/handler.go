package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// An import asked of a running exporter: `flespi-exporter import` posts
// its Request to the internal listener's /-/import while the exporter
// holds the data directory, so that the import goes through the
// exporter's own outputs and device registry. The answer is the import's
// progress, line by line as it goes, and a last line ResultPrefix + the
// Result as JSON.

// ResultPrefix starts the last line of an answer of /-/import.
const ResultPrefix = "result: "

// Result is what that line holds.
type Result struct {
	Summary Summary `json:"summary"`
	Error   string  `json:"error,omitempty"`
}

// Runner runs an import through the exporter's wiring, writing its
// progress to progress.
type Runner func(ctx context.Context, req Request, progress io.Writer) (Summary, error)

// Handler serves /-/import with run; an import ends with its request (the
// import command interrupted) or when stop ends (the exporter stopping).
func Handler(run Runner, stop func() context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
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
		defer context.AfterFunc(stop(), cancel)()
		out := &flushWriter{w: w, rc: rc}
		sum, err := run(ctx, req, out)
		res := Result{Summary: sum}
		if err != nil {
			res.Error = err.Error()
		}
		line, _ := json.Marshal(res)
		fmt.Fprintf(out, "%s%s\n", ResultPrefix, line)
	})
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
