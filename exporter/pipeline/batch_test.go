package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// compile makes a Mapping of [[rule]]s in TOML.
func compile(t *testing.T, rules string) *mapping.Mapping {
	t.Helper()
	var file struct {
		Rule []mapping.Rule `toml:"rule"`
	}
	if _, err := toml.Decode(rules, &file); err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(mapping.DefaultConfig(), file.Rule)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const body = `[{"ident":"a","timestamp":1717171200,"speed":12,"x":1},{"timestamp":1717171200,"speed":3},` +
	`{"ident":"b","timestamp":1717171201,"speed":"fast"}]`

// keeper is an output that keeps a copy of the samples it is given, so
// that its part grows with the batch.
type keeper struct{}

type keeperPart struct{ samples []mapping.Sample }

func (keeper) NewPart() Part       { return &keeperPart{} }
func (keeper) Name() string        { return "keeper" }
func (keeper) Follow(Part, *Batch) {}
func (p *keeperPart) Reset()       { p.samples = p.samples[:0] }
func (p *keeperPart) Size() int    { return 24 * cap(p.samples) }
func (p *keeperPart) Add(_ *message.Message, r *mapping.Result, _ time.Time) {
	p.samples = append(p.samples, r.Samples...)
}

// TestBatchKeepsItsRules: a batch begun before new rules are set is
// mapped with the rules it began with.
func TestBatchKeepsItsRules(t *testing.T) {
	old := compile(t, `rule = [{match = "speed"}]`)
	p := Must(New(old, []Output{keeper{}}, nil, quiet))
	b := p.Begin("test", time.Now())
	defer b.Release()
	p.SetMapping(compile(t, `rule = [{match = "other"}]`))
	if err := b.Add([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if b.Mapping() != old || b.Hits()[0] != 2 {
		t.Errorf("the batch mapped with other rules: hits %v", b.Hits())
	}
}

// TestHugeBatchIsNotPooled: a batch grown by a huge body is dropped, not
// kept in the pool for ever; an ordinary one is kept.
func TestHugeBatchIsNotPooled(t *testing.T) {
	p := Must(New(compile(t, `rule = [{match = "**"}]`), []Output{keeper{}}, nil, quiet))
	small := p.Begin("test", time.Now())
	if err := small.Add([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if !small.poolable() {
		t.Errorf("a batch of 3 messages is not kept (%d bytes)", small.size())
	}
	small.Release()
	var big strings.Builder
	big.WriteString("[")
	for i := range 40_000 {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `{"ident":"d%d","timestamp":1717171200,"a":1,"b":2,"c":3,"d":4,"e":5}`, i)
	}
	big.WriteString("]")
	b := p.Begin("test", time.Now())
	if err := b.Add([]byte(big.String())); err != nil {
		t.Fatal(err)
	}
	if b.poolable() {
		t.Errorf("a batch of 40,000 messages (%d bytes) would be kept in the pool", b.size())
	}
	b.Release()
}

// flaky is a Store that fails its first n writes.
type flaky struct{ fail, calls int }

func (f *flaky) NewPart() Part { return &keeperPart{} }
func (f *flaky) Name() string  { return "flaky" }
func (f *flaky) Store(context.Context, Part) (Stored, error) {
	if f.calls++; f.calls <= f.fail {
		return Stored{}, errors.New("down")
	}
	return Stored{Unit: "points", Stored: 1}, nil
}

// TestStoreRetried: a batch stored again after a failure is counted in
// the metrics once, and followers are told only once it is stored.
func TestStoreRetried(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := &flaky{fail: 2}
	told := &countingFollower{}
	p := Must(New(compile(t, `rule = [{match = "speed"}]`), []Output{told, store}, reg, quiet))
	b := p.Begin("test", time.Now())
	defer b.Release()
	if err := b.Add([]byte(body)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := b.Store(context.Background())
		if (i < 2) != (err != nil) {
			t.Fatalf("store %d: %v", i, err)
		}
		if want := max(0, i-1); told.batches != want {
			t.Errorf("after store %d the follower was told %d times, want %d", i, told.batches, want)
		}
	}
	if got := testutil.ToFloat64(p.m.messages); got != 3 {
		t.Errorf("messages counted %v times over, want the batch's 3 once", got)
	}
}

type countingFollower struct {
	keeper
	batches int
}

func (c *countingFollower) Follow(Part, *Batch) { c.batches++ }
func (c *countingFollower) Name() string        { return "counting" }

// neither is an output that neither stores nor follows.
type neither struct{}

func (neither) Name() string  { return "neither" }
func (neither) NewPart() Part { return &keeperPart{} }

// TestOutputOfNeitherKind: an output that is neither a Store nor a
// Follower would never see a batch: New says so instead of dropping it.
func TestOutputOfNeitherKind(t *testing.T) {
	if _, err := New(compile(t, `rule = [{match = "speed"}]`), []Output{keeper{}, neither{}}, nil, quiet); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("New with an output of neither kind: %v", err)
	}
}
