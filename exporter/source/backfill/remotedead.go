package backfill

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// remoteDeadLetters is the remote write output's dead-letter file, in
// data.dir.
const remoteDeadLetters = "remote-write-dead-letters.jsonl"

// replayChunk is how many dead-letter entries (series) go in one replay
// step, between two saves of the progress.
const replayChunk = 1000

// replayRemoteWrite sends a remote write dead-letter file to the
// configured receiver again, through the remote write output
// (Options.Replay): once its out-of-order window is widened, or a series
// it refused is fixed. What it refuses again goes to the output's
// dead-letter file. The progress is kept as for
// message files, so a replay done already stores nothing twice.
func replayRemoteWrite(ctx context.Context, cfg *config.Loaded, file string, data []byte, opts Options, sum *Summary) error {
	if cfg.RemoteWrite.URL == "" || opts.Replay == nil {
		return errors.New("this is a remote write dead-letter file, and remote_write.url is empty: set it to the receiver to replay it into")
	}
	deadPath := filepath.Join(cfg.Data.Dir, remoteDeadLetters)
	if same(file, deadPath) {
		return fmt.Errorf("the exporter appends to %s: move it aside first (mv %s %s) and replay the moved file", deadPath, deadPath, filepath.Join(cfg.Data.Dir, "remote-write-replayed-1.jsonl"))
	}
	state, err := fileState(file, data, opts)
	if err != nil {
		return err
	}
	if state.Complete {
		fmt.Fprintf(opts.Progress, "%s: replayed already (%d series); -restart replays it again\n", file, state.Done)
		return nil
	}
	entries, bad, err := deadletter.ReadSeries(data)
	if err != nil {
		return err
	}
	sum.leftOut(opts, file, bad)
	prog := newProgress(opts.Progress, opts.Terminal, file, len(entries), state.Done)
	for state.Done < len(entries) {
		end := min(state.Done+replayChunk, len(entries))
		var taken, refused int
		err := storePolicy.Do(ctx, func() (err error) {
			taken, refused, err = opts.Replay(ctx, entries[state.Done:end])
			return err
		}, func(err error) bool { _, setting := pipeline.Setting(err); return !setting }, nil)
		if err != nil {
			prog.finish(false)
			return fmt.Errorf("%w (progress is saved: run the same import again to continue)", err)
		}
		sum.Replayed += taken
		sum.ReplayRefused += refused
		state.Done = end
		if err := state.save(); err != nil {
			return err
		}
		prog.update(end)
	}
	state.Complete = true
	prog.finish(true)
	if sum.ReplayRefused > 0 {
		fmt.Fprintf(opts.Progress, "%s: the receiver refused %d samples again: they are in %s\n", file, sum.ReplayRefused, deadPath)
	}
	return state.save()
}

// same reports whether two paths name one file.
func same(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}
