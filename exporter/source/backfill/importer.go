// Package importer is the import source: `flespi-exporter import` reads
// flespi message dumps (JSON arrays, JSON lines, a REST answer, a
// dead-letter file) and stores them through the pipeline in chunks,
// recording after each chunk how far it got, so that an interrupted
// import continues where it stopped.
package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Options says what `flespi-exporter import` does.
type Options struct {
	// Files are flespi message dumps: JSON arrays, JSON lines, or the
	// {"result": [...]} answer of flespi's REST API (GET /gw/devices/{id}/messages).
	Files []string
	// Restart imports a file from its start even if a state file says part
	// of it is done.
	Restart bool
	// State is where the import's progress is kept, for one file in a
	// folder the importer cannot write to; FILE.import-state when empty.
	State string
	// Progress receives the progress display; Terminal makes it one line
	// rewritten in place, else a line every few seconds.
	Progress io.Writer
	Terminal bool
	Log      *slog.Logger
	// Flespi, when set, reads the messages from flespi's REST API instead
	// of files; its progress is kept at State, or in data.dir.
	Flespi *FlespiSource
	// Replay sends remote write dead letters to the remote write output
	// (the wiring's); nil without one.
	Replay func(ctx context.Context, entries []deadletter.Series) (taken, refused int, err error)
}

// Request is an import asked of a running exporter (POST /-/import on its
// internal listener), so that it goes through the exporter's own outputs
// and device registry: the import command's flags.
type Request struct {
	Files   []string      `json:"files,omitempty"`
	Restart bool          `json:"restart,omitempty"`
	State   string        `json:"state,omitempty"`
	Flespi  *FlespiSource `json:"flespi,omitempty"`
}

// Options of the request, writing the progress to progress.
func (r *Request) Options(progress io.Writer, log *slog.Logger) Options {
	return Options{Files: r.Files, Restart: r.Restart, State: r.State, Flespi: r.Flespi, Progress: progress, Log: log}
}

// Summary counts what an import did.
type Summary struct {
	Messages        int // read, resumed ones included
	Resumed         int // skipped because an earlier run had imported them
	SkippedMessages int // without ident or time
	SkippedValues   int
	Unreadable      int // lines of dead-letter files that are not entries
	Unmapped        int // values of parameters no rule matches
	// Outputs is what each store did, by its name, in its unit.
	Outputs map[string]pipeline.Stored
	// Replayed are the samples of remote write dead letters the receiver
	// took; ReplayRefused it refused again.
	Replayed, ReplayRefused int
}

// add counts what the stores did with a chunk.
func (s *Summary) add(outputs []pipeline.OutputResult) {
	if s.Outputs == nil {
		s.Outputs = map[string]pipeline.Stored{}
	}
	for _, o := range outputs {
		t := s.Outputs[o.Output]
		t.Unit, t.Stored, t.Refused, t.Quiet = o.Unit, t.Stored+o.Stored.Stored, t.Refused+o.Refused, o.Quiet
		s.Outputs[o.Output] = t
	}
}

// storePolicy is how a chunk is tried again while InfluxDB fails: a
// backfill can wait for InfluxDB longer than a live stream (1 + 2 + 4 + 8
// + 16 s), but not forever.
var storePolicy = retry.Policy{First: time.Second, Max: 16 * time.Second, Tries: 6}

// Import stores the messages of each file, or of flespi's REST API, through
// pipe: the wiring's pipeline, so that a backfill reaches every store the
// live stream does (InfluxDB, remote write) and the device registry. A
// file is written in chunks of influxdb.batch_size messages; after each
// chunk, the progress is recorded (FILE.import-state, or a state per
// flespi selector in data.dir), so that an interrupted import continues
// where it stopped. A remote write dead-letter file is replayed into
// remote_write.url instead.
func Import(ctx context.Context, pipe *pipeline.Pipeline, cfg *config.Loaded, opts Options) (Summary, error) {
	var sum Summary
	if opts.State != "" && len(opts.Files) > 1 {
		return sum, errors.New("-state keeps the progress of one file: import the files one by one")
	}
	if src := opts.Flespi; src != nil {
		state := opts.State
		if state == "" {
			state = filepath.Join(cfg.Data.Dir, flespiStateName(src))
			if err := os.MkdirAll(cfg.Data.Dir, 0o750); err != nil {
				return sum, err
			}
		}
		return sum, importFlespi(ctx, pipe, *src, state, opts, &sum)
	}
	chunk := cfg.InfluxDB.BatchSize
	if chunk <= 0 {
		chunk = 5000
	}
	for _, file := range opts.Files {
		data, err := os.ReadFile(file)
		if err != nil {
			return sum, err
		}
		if deadletter.IsSeriesFile(data) {
			err = replayRemoteWrite(ctx, cfg, file, data, opts, &sum)
		} else {
			err = importFile(ctx, pipe, chunk, file, data, opts, &sum)
		}
		if err != nil {
			return sum, fmt.Errorf("%s: %w", file, err)
		}
	}
	return sum, nil
}

// importState is the content of FILE.import-state.
type importState struct {
	path     string // where it is kept
	File     string `json:"file"`
	Size     int64  `json:"size"`
	Done     int    `json:"done"` // messages imported, from the start of the file
	Complete bool   `json:"complete"`
}

// statePath is where the state of an import of file is kept: next to
// it, or at Options.State (for files in a read-only folder).
func statePath(file string, opts Options) string {
	if opts.State != "" {
		return opts.State
	}
	return file + ".import-state"
}

func importFile(ctx context.Context, pipe *pipeline.Pipeline, chunk int, file string, data []byte, opts Options, sum *Summary) error {
	state, err := fileState(file, data, opts)
	if err != nil {
		return err
	}
	if state.Complete {
		fmt.Fprintf(opts.Progress, "%s: imported already (%d messages); -restart imports it again\n", file, state.Done)
		sum.Messages += state.Done // in the summary as done by an earlier run
		sum.Resumed += state.Done
		return nil
	}
	body, bad, err := dumpMessages(data)
	if err != nil {
		return err
	}
	sum.leftOut(opts, file, bad)
	b := pipe.Begin(pipeline.SourceImport, time.Now())
	defer b.Release()
	total, err := countMessages(b, body)
	if err != nil {
		return err
	}
	if state.Done > 0 {
		fmt.Fprintf(opts.Progress, "%s: resuming after message %d of %d\n", file, state.Done, total)
	}
	imp := &importer{
		ctx: ctx, pipe: pipe, chunk: chunk, file: file, state: state, sum: sum, b: b,
		progress: newProgress(opts.Progress, opts.Terminal, file, total, state.Done),
	}
	err = imp.run(body)
	imp.progress.finish(err == nil)
	if err == nil && deadletter.IsPointFile(data) {
		// The exporter goes on appending to the file it writes: a replayed
		// one is done with once its messages are stored.
		fmt.Fprintf(opts.Progress, "%s: every message of these dead letters is stored now. Remove the file, or keep it as a record: "+
			"the exporter appends to data.dir/dead-letters.jsonl, so move that aside (mv dead-letters.jsonl replayed-1.jsonl) before replaying it, "+
			"and replay the moved file; an import of the same file again stores nothing twice\n", file)
	}
	return err
}

// fileState is the progress of an import of file (data): an earlier
// run's, unless -restart.
func fileState(file string, data []byte, opts Options) (importState, error) {
	state := importState{path: statePath(file, opts), File: file, Size: int64(len(data))}
	if opts.Restart {
		return state, nil
	}
	return state, readState(&state)
}

// leftOut counts and names the lines of a dead-letter file that are not
// entries (cut short by a crash or a full disk): said, not skipped without
// a word.
func (s *Summary) leftOut(opts Options, file string, bad []int) {
	if len(bad) == 0 {
		return
	}
	s.Unreadable += len(bad)
	fmt.Fprintf(opts.Progress, "%s: %d lines are not dead-letter entries (cut short by a crash or a full disk) and are left out: line %s\n",
		file, len(bad), lineList(bad))
}

// readJSON reads a state file into v; found is false when there is none.
func readJSON(path string, v any, what string) (found bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("%s is not %s (%v); remove it or use -restart", path, what, err)
	}
	return true, nil
}

// readState loads the state of an earlier run of the same file.
func readState(state *importState) error {
	var old importState
	if found, err := readJSON(state.path, &old, "an import state"); !found || err != nil {
		return err
	}
	if old.File != state.File || old.Size != state.Size {
		return fmt.Errorf("%s records an import of %s of %d bytes, not of %s of %d bytes; use -restart", state.path, old.File, old.Size, state.File, state.Size)
	}
	old.path = state.path
	*state = old
	return nil
}

func (s *importState) save() error { return saveState(s.path, s) }

// saveState writes an import's progress whole or not at all.
func saveState(path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// storeChunk stores a chunk of an import (a file's or a flespi page),
// retrying while InfluxDB fails for a passing reason, and adds what it
// made to sum. A setting InfluxDB refuses stops at once with the fix.
func storeChunk(ctx context.Context, b *pipeline.Batch, sum *Summary) error {
	var res pipeline.Result
	attempts := 0
	err := storePolicy.Do(ctx, func() (err error) {
		attempts++
		res, err = b.Store(ctx)
		return err
	}, func(err error) bool { _, setting := pipeline.Setting(err); return !setting }, nil)
	if fix, setting := pipeline.Setting(err); setting {
		// A setting to fix, not a passing failure: waiting does not help.
		return fmt.Errorf("%s; nothing of this chunk was written, and the progress is saved: once that is fixed the same command continues", fix)
	}
	switch {
	case err != nil:
		return fmt.Errorf("after %d attempts: %w (progress is saved: run the same import again to continue)", attempts, err)
	}
	sum.add(res.Outputs)
	sum.SkippedMessages += res.SkippedMessages
	sum.SkippedValues += res.SkippedValues
	sum.Unmapped += res.Unmapped
	return nil
}

// countMessages decodes body once, to know the total and to reject an
// invalid file before anything is written.
func countMessages(b *pipeline.Batch, body []byte) (int, error) {
	n := 0
	err := b.Decode(body, func(*message.Message) error { n++; return nil })
	return n, err
}

// importer writes one file's messages chunk by chunk.
type importer struct {
	ctx      context.Context
	pipe     *pipeline.Pipeline
	chunk    int // messages of a write
	file     string
	state    importState
	sum      *Summary
	b        *pipeline.Batch
	progress *progress
	index    int // messages read so far
}

func (imp *importer) run(body []byte) error {
	b := imp.b
	err := b.Decode(body, func(msg *message.Message) error {
		imp.index++
		if imp.index <= imp.state.Done {
			imp.sum.Messages++
			imp.sum.Resumed++
			return nil
		}
		if err := b.AddMessage(msg); err != nil {
			return err
		}
		if imp.index-imp.state.Done >= imp.chunk {
			return imp.flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := imp.flush(); err != nil {
		return err
	}
	imp.state.Complete = true
	return imp.state.save()
}

// flush writes the chunk, retrying while InfluxDB fails, then records the
// progress. The messages of the chunk are those since the last flush.
func (imp *importer) flush() error {
	b := imp.b
	if err := storeChunk(imp.ctx, b, imp.sum); err != nil {
		return err
	}
	imp.sum.Messages += imp.index - imp.state.Done // counted once stored, as the progress line does
	imp.state.Done = imp.index
	if err := imp.state.save(); err != nil {
		return err
	}
	imp.progress.update(imp.index)
	b.Reset() // the decoder goes on with the next message
	return nil
}

// lineList writes line numbers for people: "3, 17 and 40", the first ten.
func lineList(lines []int) string {
	var parts []string
	for _, l := range lines[:min(len(lines), 10)] {
		parts = append(parts, strconv.Itoa(l))
	}
	s := strings.Join(parts, ", ")
	if len(lines) > 10 {
		s += fmt.Sprintf(" and %d more", len(lines)-10)
	}
	return s
}

// flespiStateName names the state of the backfills of a selector: every
// range of it, relative or not, finds it again.
func flespiStateName(src *FlespiSource) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s %s", src.Host, src.Selector)
	return fmt.Sprintf("flespi-backfill-%08x.state", h.Sum32())
}
