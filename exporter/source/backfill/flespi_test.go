package backfill

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeflespi"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
)

const flespiToken = "FlespiTokenForTests"

// backfill runs an import from fs into db; it returns the summary, the
// progress output and the waits between retries.
func backfill(t *testing.T, ctx context.Context, fs *fakeflespi.Server, db *fakeinflux.Server, state string, client *http.Client) (Summary, string, []time.Duration, error) {
	t.Helper()
	text := fmt.Sprintf("[influxdb]\nurl = %q\nbucket = \"db/autogen\"\n\n[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n", db.URL)
	cfg, err := config.Parse("config.toml", text, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	src := &FlespiSource{Host: fs.URL, Token: flespiToken, Selector: "all", PageSize: 4,
		From: time.Unix(1_700_000_000, 0), To: time.Unix(1_800_000_000, 0), Client: client,
		Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }}
	sum, out, err := importWith(t, ctx, cfg, Options{Flespi: src, State: state})
	return sum, out, waits, err
}

// importWith runs Import through a pipeline into cfg's InfluxDB, as the
// wiring's would be, its dead-letter file a temporary one (cfg's is
// relative to the working directory: the package's source).
func importWith(t *testing.T, ctx context.Context, cfg *config.Loaded, opts Options) (Summary, string, error) {
	t.Helper()
	cfg.InfluxDB.DeadLetterFile = filepath.Join(t.TempDir(), "dead-letters.jsonl")
	sink, err := influx.New(cfg.InfluxDB, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	pipe := pipeline.Must(pipeline.New(cfg.Mapping, []pipeline.Output{sink}, nil, slog.New(slog.DiscardHandler)))
	var out bytes.Buffer
	opts.Progress, opts.Log = &out, slog.New(slog.DiscardHandler)
	sum, err := Import(ctx, pipe, cfg, opts)
	return sum, out.String(), err
}

// fleet stores 25 messages of three devices, with messages of several
// devices at one time (some of them across a page's end) and six at one
// time, more than a page holds.
func fleet(fs *fakeflespi.Server) int {
	n := 0
	add := func(t float64, devices ...int) {
		for _, d := range devices {
			fs.Add(d, fmt.Sprintf("dev%d", d), t, map[string]any{"position.speed": n})
			n++
		}
	}
	add(1_750_000_000, 1, 2, 3)
	add(1_750_000_001.5, 1)
	add(1_750_000_002.000001, 2, 3) // a page of 4 ends between these two
	add(1_750_000_003, 1, 2, 3, 4, 5, 6)
	for i := range 11 {
		add(1_750_000_100+float64(i), 1+i%3)
	}
	add(1_750_000_200, 1)
	return n
}

// points are the distinct lines InfluxDB got, and how many in all.
func points(db *fakeinflux.Server) (distinct, all int) {
	seen := map[string]bool{}
	for _, l := range db.Lines() {
		seen[l] = true
	}
	return len(seen), len(db.Lines())
}

// TestFlespiPaging: paging by time neither skips nor repeats: messages of
// several devices at one time across a page's end, and more at one time
// than a page holds; every message stored once, with its own time.
func TestFlespiPaging(t *testing.T) {
	fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
	n := fleet(fs)
	sum, out, _, err := backfill(t, t.Context(), fs, db, filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	distinct, all := points(db)
	if sum.Messages != n || distinct != n || all != n {
		t.Errorf("%d messages, %d distinct points in %d written; want %d each\n%s", sum.Messages, distinct, all, n, out)
	}
	if !strings.Contains(strings.Join(db.Lines(), "\n"), "flespi,ident=dev2 position.speed=1 1750000000000000000") ||
		!strings.Contains(strings.Join(db.Lines(), "\n"), "1750000002000001000") {
		t.Errorf("times not exact:\n%s", strings.Join(db.Lines(), "\n"))
	}
	if apps := fs.Apps(); apps["flespi-exporter"] != fs.Requests() {
		t.Errorf("x-flespi-app on %v of %d requests", apps, fs.Requests())
	}
}

// TestFlespiRetries: 429 (with Retry-After, which is waited, and without,
// backed off), a 500, and an error beside a result are tried again; the
// import ends with every message once.
func TestFlespiRetries(t *testing.T) {
	fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
	n := fleet(fs)
	fs.Then(
		fakeflespi.Answer{Status: 429, RetryAfter: "7", Body: `{"errors":[{"code":429,"reason":"too many requests"}]}`},
		fakeflespi.Answer{Status: 429, Body: `{"errors":[{"code":429,"reason":"too many requests"}]}`},
		fakeflespi.Answer{Status: 500, Body: `{"errors":[{"code":500,"reason":"internal error"}]}`},
		fakeflespi.Answer{Status: 200, Body: `{"result":[],"errors":[{"code":503,"reason":"storage unavailable"}]}`},
	)
	_, out, waits, err := backfill(t, t.Context(), fs, db, filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(waits) != 4 || waits[0] != 7*time.Second {
		t.Errorf("waits %v, want 4, the first the Retry-After of 7s", waits)
	}
	if distinct, all := points(db); distinct != n || all != n {
		t.Errorf("%d distinct points in %d, want %d", distinct, all, n)
	}
}

// TestFlespiRefusals: a refused token, or a token without the right to
// read messages, stops at once and says which; an error inside a 200 that
// is not a passing one stops too.
func TestFlespiRefusals(t *testing.T) {
	for _, c := range []struct {
		answer fakeflespi.Answer
		want   string
	}{
		{fakeflespi.Answer{Status: 401, Body: `{"errors":[{"code":401,"reason":"invalid token"}]}`}, "check FLESPI_TOKEN"},
		{fakeflespi.Answer{Status: 403, Body: `{"errors":[{"code":403,"reason":"access denied"}]}`}, "its ACL needs GET on gw/devices, messages"},
		{fakeflespi.Answer{Status: 200, Body: `{"result":[],"errors":[{"code":400,"reason":"bad selector"}]}`}, "holds an error: 400 bad selector"},
	} {
		fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
		fleet(fs)
		fs.Then(c.answer)
		_, out, waits, err := backfill(t, t.Context(), fs, db, filepath.Join(t.TempDir(), "state"), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(waits) != 0 || fs.Requests() != 1 {
			t.Errorf("%d %s: %v after %d requests and waits %v, want %q at once\n%s", c.answer.Status, c.answer.Body, err, fs.Requests(), waits, c.want, out)
		}
	}
}

// cutAfter is a client that cancels the import after n requests: an
// interruption.
type cutAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cutAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n--
	if c.n < 0 {
		c.cancel()
		return nil, context.Canceled
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestFlespiResumes: an import interrupted after some pages continues
// where it stopped; every message once; a run after the end stores
// nothing and asks flespi nothing.
func TestFlespiResumes(t *testing.T) {
	fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
	n := fleet(fs)
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, _, _, err := backfill(t, ctx, fs, db, state, &http.Client{Transport: &cutAfter{n: 3, cancel: cancel}}); err == nil {
		t.Fatal("the interrupted import ended without an error")
	}
	stored, _ := points(db)
	if stored == 0 || stored >= n {
		t.Fatalf("%d messages stored before the interruption", stored)
	}
	sum, out, _, err := backfill(t, t.Context(), fs, db, state, nil)
	if err != nil || !strings.Contains(out, "resuming at") {
		t.Fatalf("%v\n%s", err, out)
	}
	if distinct, _ := points(db); distinct != n {
		t.Errorf("%d distinct points after the resume, want %d", distinct, n)
	}
	if sum.Messages+stored < n {
		t.Errorf("the resumed run stored %d, the first %d, of %d", sum.Messages, stored, n)
	}
	requests, lines := fs.Requests(), len(db.Lines())
	sum, out, _, err = backfill(t, t.Context(), fs, db, state, nil)
	if err != nil || !strings.Contains(out, "imported already") || fs.Requests() != requests || len(db.Lines()) != lines || sum.Resumed != n {
		t.Errorf("a run after the end: %v, %d requests more, %d lines more, %+v\n%s", err, fs.Requests()-requests, len(db.Lines())-lines, sum, out)
	}
}

// backfillRange is backfill over [from, to] with its own state.
func backfillRange(t *testing.T, fs *fakeflespi.Server, db *fakeinflux.Server, state string, from, to time.Time) (Summary, string) {
	t.Helper()
	text := fmt.Sprintf("[influxdb]\nurl = %q\nbucket = \"db/autogen\"\n\n[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n", db.URL)
	cfg, err := config.Parse("config.toml", text, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	src := &FlespiSource{Host: fs.URL, Token: flespiToken, Selector: "all", PageSize: 4, From: from, To: to,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
	sum, out, err := importWith(t, t.Context(), cfg, Options{Flespi: src, State: state})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return sum, out
}

// TestFlespiIncremental: the same relative range run again (-from 30d -to
// now, a day later) reads only what is new since the last run; a wider
// -from reads only the older part; every message once.
func TestFlespiIncremental(t *testing.T) {
	fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
	day := 24 * time.Hour
	now := time.Unix(1_750_000_000, 0)
	add := func(from, to time.Time, n int) {
		for i := range n {
			at := from.Add(time.Duration(i) * to.Sub(from) / time.Duration(n))
			fs.Add(1+i%3, fmt.Sprintf("dev%d", 1+i%3), float64(at.UnixMicro())/1e6, map[string]any{"position.speed": i})
		}
	}
	add(now.Add(-80*day), now, 40)
	state := filepath.Join(t.TempDir(), "state")
	backfillRange(t, fs, db, state, now.Add(-30*day), now)
	first, _ := points(db)

	later := now.Add(day)
	add(now.Add(time.Second), later, 10)
	before := len(fs.Queries())
	_, out := backfillRange(t, fs, db, state, later.Add(-30*day), later)
	for _, q := range fs.Queries()[before:] {
		if q.From <= float64(now.Unix()) {
			t.Errorf("the next day's run asked from %v, at or before the last run's end %v\n%s", q.From, now.Unix(), out)
		}
	}
	if got, _ := points(db); got != first+10 {
		t.Errorf("%d points after the second run, want %d + the 10 new", got, first)
	}

	before = len(fs.Queries())
	backfillRange(t, fs, db, state, later.Add(-90*day), later)
	for _, q := range fs.Queries()[before:] {
		if q.To >= float64(now.Add(-30*day).Unix()) {
			t.Errorf("-from 90d after -from 30d asked up to %v, into what was read (from %v)", q.To, now.Add(-30*day).Unix())
		}
	}
	if distinct, all := points(db); distinct != 50 || all != 50 {
		t.Errorf("%d distinct points in %d, want the 50 messages once each", distinct, all)
	}
	before = len(fs.Queries())
	if _, out := backfillRange(t, fs, db, state, later.Add(-90*day), later); len(fs.Queries()) != before || !strings.Contains(out, "imported already") {
		t.Errorf("a run of a range read whole asked %d times\n%s", len(fs.Queries())-before, out)
	}
}

// TestFlespiCappedPages: a server that returns at most 333 messages a page
// when 1,000 are asked for (flespi's largest count is undocumented) does
// not end the backfill after the first page: a page short of the count is
// not the end, an empty page is. Every message once, ties across pages'
// ends included.
func TestFlespiCappedPages(t *testing.T) {
	fs, db := fakeflespi.Start(t, flespiToken), fakeinflux.Start(t)
	for i := range 2000 {
		at := 1_750_000_000 + float64(i/2) // two devices at each time
		fs.Add(1+i%2, fmt.Sprintf("dev%d", 1+i%2), at, map[string]any{"position.speed": i})
	}
	fs.MaxCount = 333
	text := fmt.Sprintf("[influxdb]\nurl = %q\nbucket = \"db/autogen\"\n\n[[rule]]\nmatch = \"position.speed\"\nunit = \"km/h\"\n", db.URL)
	cfg, err := config.Parse("config.toml", text, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	src := &FlespiSource{Host: fs.URL, Token: flespiToken, Selector: "all", From: time.Unix(1_700_000_000, 0), To: time.Unix(1_800_000_000, 0)}
	sum, out, err := importWith(t, t.Context(), cfg, Options{Flespi: src, State: filepath.Join(t.TempDir(), "state")})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if distinct, all := points(db); distinct != 2000 || all != 2000 || sum.Messages != 2000 {
		t.Errorf("%d distinct points in %d, %d messages; want 2,000 each\n%s", distinct, all, sum.Messages, out)
	}
}
