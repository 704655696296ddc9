package backfill

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// Ask posts req to the /-/import of the exporter at base and copies its
// progress to progress until its result.
func Ask(ctx context.Context, base string, req Request, progress io.Writer) (Summary, error) {
	var sum Summary
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/-/import", strings.NewReader(string(body)))
	if err != nil {
		return sum, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return sum, fmt.Errorf("asking the exporter at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return sum, fmt.Errorf("the exporter at %s answered %s: %s", base, resp.Status, strings.TrimSpace(string(answer)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, ResultPrefix); ok {
			var res Result
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				return sum, fmt.Errorf("reading the exporter's result: %w", err)
			}
			if res.Error != "" {
				return res.Summary, errors.New(res.Error)
			}
			return res.Summary, nil
		}
		fmt.Fprintln(progress, line)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return sum, fmt.Errorf("the exporter's answer broke off: %w", err)
	}
	return sum, errors.New("the exporter's answer ended without a result (was it stopped?): run the same command again to continue")
}
