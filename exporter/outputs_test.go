package exporter_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// fakeOutput is an output with every part of the lifecycle: a store
// counting messages, with work of its own, a check, a status section and
// something to close.
type fakeOutput struct {
	running, closed atomic.Bool
	stored          atomic.Int64
	mu              sync.Mutex
	checkErr        error
}

type fakePart struct{ n int }

func (p *fakePart) Add(*message.Message, *mapping.Result, time.Time) { p.n++ }
func (p *fakePart) Reset()                                           { p.n = 0 }
func (p *fakePart) Size() int                                        { return 8 }

func (f *fakeOutput) Name() string           { return "fake" }
func (f *fakeOutput) NewPart() pipeline.Part { return &fakePart{} }
func (f *fakeOutput) Store(_ context.Context, p pipeline.Part) (pipeline.Stored, error) {
	n := p.(*fakePart).n
	f.stored.Add(int64(n))
	return pipeline.Stored{Unit: "things", Stored: n}, nil
}
func (f *fakeOutput) Run(ctx context.Context) {
	f.running.Store(true)
	<-ctx.Done()
	f.running.Store(false)
}
func (f *fakeOutput) Close() { f.closed.Store(true) }
func (f *fakeOutput) Check(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkErr
}
func (f *fakeOutput) Report() pipeline.Report {
	return pipeline.Report{Output: "fake", OK: true, Facts: []string{"fake facts"},
		Attention: []pipeline.Attention{{Level: "warn", What: "the fake output wants a look", Fix: "none"}}}
}

// TestNewOutputThroughTheList: an output added by one line in the
// wiring's list, and nothing else, is run, stores batches (the answer
// names it), is asked for readiness, is shown on the status page with
// what needs attention, and is closed when the exporter stops.
func TestNewOutputThroughTheList(t *testing.T) {
	fake := &fakeOutput{}
	t.Cleanup(func() { // runs after the exporter's own cleanup has stopped it
		if !fake.closed.Load() || fake.running.Load() {
			t.Errorf("after the stop: closed %v, running %v", fake.closed.Load(), fake.running.Load())
		}
	})
	exporter.AddOutput(t, func() (pipeline.Output, error) { return fake, nil })
	ex := testexporter.StartWith(t, "", nil, nil)
	deadline := time.Now().Add(5 * time.Second)
	for !fake.running.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !fake.running.Load() {
		t.Error("the output's Run was not started")
	}
	code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171200,"position.speed":3}]`), nil)
	if code != 200 || !strings.Contains(answer, "fake: 1 things, 0 dead-lettered") || fake.stored.Load() != 1 {
		t.Errorf("the batch: %d %q, stored %d", code, answer, fake.stored.Load())
	}
	if code := status(t, "GET", ex.InternalURL+"/-/ready", nil); code != http.StatusOK {
		t.Errorf("ready with the output taking writes: %d", code)
	}
	fake.mu.Lock()
	fake.checkErr = errors.New("fake store down")
	fake.mu.Unlock()
	if code, answer := get2(t, ex.InternalURL+"/-/ready"); code != http.StatusServiceUnavailable || !strings.Contains(answer, "fake does not take the exporter's writes: fake store down") {
		t.Errorf("ready with the output failing: %d %q", code, answer)
	}
	st := testexporter.Get(t, ex.InternalURL+"/api/status")
	if !strings.Contains(st, `"output": "fake"`) || !strings.Contains(st, "fake facts") || !strings.Contains(st, "the fake output wants a look") {
		t.Errorf("the status page does not show the output:\n%.2000s", st)
	}
	if page := testexporter.Get(t, ex.InternalURL+"/"); !strings.Contains(page, "output fake") {
		t.Error("the status page's HTML does not list the output")
	}
}

// get2 is a GET's status and body.
func get2(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
