// Package importer is the import source: `flespi-exporter import` reads
// flespi message dumps (JSON arrays, JSON lines, a REST answer, a
// dead-letter file) and stores them through the pipeline in chunks,
// recording after each chunk how far it got, so that an interrupted
// import continues where it stopped.
package importer

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
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/exporter/remotewrite"
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
}

// Summary counts what an import did.
type Summary struct {
	Messages        int // read, resumed ones included
	Resumed         int // skipped because an earlier run had imported them
	Points          int
	SkippedMessages int // without ident or time
	SkippedValues   int
	DeadLettered    int
	Unreadable      int // lines of dead-letter files that are not entries
	Unmapped        int // values of parameters no rule matches
	// Samples a remote write receiver took from replayed remote write
	// dead letters, and refused again.
	Samples, SamplesRefused int
}

// storePolicy is how a chunk is tried again while InfluxDB fails: a
// backfill can wait for InfluxDB longer than a live stream (1 + 2 + 4 + 8
// + 16 s), but not forever.
var storePolicy = retry.Policy{First: time.Second, Max: 16 * time.Second, Tries: 6}

// Import maps the messages of each file with the configuration's rules and
// writes them to its InfluxDB in chunks of influxdb.batch_size messages.
// After each chunk it records in FILE.import-state how many messages are
// done, so that an interrupted import continues where it stopped.
func Import(ctx context.Context, cfg *config.Loaded, opts Options) (Summary, error) {
	var sum Summary
	if opts.State != "" && len(opts.Files) > 1 {
		return sum, errors.New("-state keeps the progress of one file: import the files one by one")
	}
	var messages *messageStore
	defer func() {
		if messages != nil {
			messages.close()
		}
	}()
	toMessages := func() (*messageStore, error) {
		if messages != nil {
			return messages, nil
		}
		var err error
		messages, err = newMessageStore(cfg, opts)
		return messages, err
	}
	if src := opts.Flespi; src != nil {
		ms, err := toMessages()
		if err != nil {
			return sum, err
		}
		state := opts.State
		if state == "" {
			state = filepath.Join(cfg.Data.Dir, flespiStateName(src))
			if err := os.MkdirAll(cfg.Data.Dir, 0o750); err != nil {
				return sum, err
			}
		}
		return sum, importFlespi(ctx, ms.pipe, *src, state, opts, &sum)
	}
	for _, file := range opts.Files {
		data, err := os.ReadFile(file)
		if err != nil {
			return sum, err
		}
		if remotewrite.IsDeadLetterFile(data) {
			err = replayRemoteWrite(ctx, cfg, file, data, opts, &sum)
		} else {
			var ms *messageStore
			if ms, err = toMessages(); err == nil {
				err = importFile(ctx, ms.pipe, ms.sink.BatchSize(), file, data, opts, &sum)
			}
		}
		if err != nil {
			return sum, fmt.Errorf("%s: %w", file, err)
		}
	}
	return sum, nil
}

// messageStore is where imported messages go: InfluxDB, through a
// pipeline of its own.
type messageStore struct {
	sink *influx.Sink
	pipe *pipeline.Pipeline
}

func newMessageStore(cfg *config.Loaded, opts Options) (*messageStore, error) {
	if cfg.InfluxDB.URL == "" {
		return nil, errors.New("influxdb.url is empty: import writes messages to InfluxDB")
	}
	// No registry: the import command has no /metrics.
	sink, err := influx.New(cfg.InfluxDB, nil, opts.Log)
	if err != nil {
		return nil, err
	}
	return &messageStore{sink: sink, pipe: pipeline.New(cfg.Mapping, []pipeline.Output{sink}, nil, opts.Log)}, nil
}

func (m *messageStore) close() { m.sink.Close() }

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
	state := importState{path: statePath(file, opts), File: file, Size: int64(len(data))}
	if !opts.Restart {
		if err := readState(&state); err != nil {
			return err
		}
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
	if len(bad) > 0 {
		sum.Unreadable += len(bad)
		fmt.Fprintf(opts.Progress, "%s: %d lines are not dead-letter entries (cut short by a crash or a full disk) and are left out: line %s\n",
			file, len(bad), lineList(bad))
	}
	b := pipe.Begin("import", time.Now())
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
	if err == nil && isDeadLetterFile(data) {
		// The exporter goes on appending to the file it writes: a replayed
		// one is done with once its messages are stored.
		fmt.Fprintf(opts.Progress, "%s: every message of these dead letters is stored now. Remove the file, or keep it as a record: "+
			"the exporter appends to data.dir/dead-letters.jsonl, so move that aside (mv dead-letters.jsonl replayed-1.jsonl) before replaying it, "+
			"and replay the moved file; an import of the same file again stores nothing twice\n", file)
	}
	return err
}

// readState loads the state of an earlier run of the same file.
func readState(state *importState) error {
	raw, err := os.ReadFile(state.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old importState
	if err := json.Unmarshal(raw, &old); err != nil {
		return fmt.Errorf("%s is not an import state (%v); remove it or use -restart", state.path, err)
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
	var refused *influx.ConfigError
	err := storePolicy.Do(ctx, func() (err error) {
		attempts++
		res, err = b.Store(ctx)
		return err
	}, func(err error) bool { return !errors.As(err, &refused) }, nil)
	switch {
	case refused != nil:
		// A setting to fix, not a passing failure: waiting does not help.
		return fmt.Errorf("%s; nothing of this chunk was written, and the progress is saved: once that is fixed the same command continues", refused.Fix)
	case err != nil:
		return fmt.Errorf("after %d attempts: %w (progress is saved: run the same import again to continue)", attempts, err)
	}
	sum.Points += res.Points
	sum.DeadLettered += res.DeadLettered
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

// flespiStateName names the progress file of a backfill from flespi after
// what it reads: the same command finds it again, another range does not.
func flespiStateName(src *FlespiSource) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s %s %d %d", src.Host, src.Selector, src.From.UnixMicro(), src.To.UnixMicro())
	return fmt.Sprintf("flespi-import-%08x.state", h.Sum32())
}
