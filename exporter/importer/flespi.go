package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
)

// A backfill straight from flespi: the messages flespi keeps for each
// device (365 days by default), read from its REST API
// (GET /gw/devices/{selector}/messages) a page at a time, each page stored
// before the next is asked for. Pages go by time: each asks from the time
// of the last message stored (inclusive, so that messages of the same
// microsecond split by a page's end are not skipped), and the messages at
// that time already stored are left out. The progress is kept after each
// page: an interrupted run continues where it stopped, and a second run of
// the same range stores nothing twice.

// FlespiSource says what to read from flespi.
type FlespiSource struct {
	Host     string // https://flespi.io, or https://ru.flespi.io
	Token    string // a flespi token that may read the devices' messages
	Selector string // "all", ids "123,456", or "configuration.ident=..."
	From, To time.Time
	PageSize int // messages a request asks for; 1,000 when 0
	// Client and Sleep are the HTTP client and the wait between retries
	// (tests shorten them).
	Client *http.Client
	Sleep  func(ctx context.Context, d time.Duration) error
}

// flespiState is the progress of a backfill, kept after every page.
type flespiState struct {
	path     string
	Host     string   `json:"host"`
	Selector string   `json:"selector"`
	From     float64  `json:"from"`
	To       float64  `json:"to"`
	Cursor   float64  `json:"cursor"`    // the next page starts at this time (inclusive)
	AtCursor []uint64 `json:"at_cursor"` // messages at Cursor stored already
	// Devices is, per ident, the time of the last message stored.
	Devices  map[string]float64 `json:"devices"`
	Done     int                `json:"done"` // messages stored
	Complete bool               `json:"complete"`
}

func (s *flespiState) save() error { return saveState(s.path, s) }

// flespiRetry is how a refused or failed request is tried again: 429 and
// 5xx, from 1 s to a minute (or what Retry-After says), ten times.
var flespiRetry = retry.Policy{First: time.Second, Max: time.Minute, Tries: 10}

// importFlespi runs one backfill from flespi through pipe.
func importFlespi(ctx context.Context, pipe *pipeline.Pipeline, src FlespiSource, statePath string, opts Options, sum *Summary) error {
	if src.Token == "" {
		return errors.New("no flespi token: set FLESPI_TOKEN (a token whose ACL may read the devices' messages)")
	}
	if src.PageSize == 0 {
		src.PageSize = 1000
	}
	if src.Client == nil {
		src.Client = &http.Client{Timeout: 2 * time.Minute}
	}
	if src.Sleep == nil {
		src.Sleep = sleep
	}
	st := flespiState{path: statePath, Host: src.Host, Selector: src.Selector, From: unix(src.From), To: unix(src.To), Devices: map[string]float64{}}
	if err := loadFlespiState(&st, opts.Restart); err != nil {
		return err
	}
	name := "flespi " + src.Selector
	if st.Complete {
		fmt.Fprintf(opts.Progress, "%s: imported already (%d messages from %s to %s); -restart imports it again\n",
			name, st.Done, src.From.UTC().Format(time.RFC3339), src.To.UTC().Format(time.RFC3339))
		sum.Messages += st.Done
		sum.Resumed += st.Done
		return nil
	}
	if st.Done > 0 {
		fmt.Fprintf(opts.Progress, "%s: resuming at %s, %d messages stored by an earlier run\n", name, time.Unix(0, int64(st.Cursor*1e9)).UTC().Format(time.RFC3339), st.Done)
	}
	p := &flespiPages{src: src, st: &st, pipe: pipe, sum: sum, out: opts.Progress, terminal: opts.Terminal, name: name, start: time.Now(), startDone: st.Done}
	for !st.Complete {
		if err := p.next(ctx); err != nil {
			p.print(true)
			return err
		}
	}
	p.print(true)
	return nil
}

func loadFlespiState(st *flespiState, restart bool) error {
	st.Cursor = st.From
	if restart {
		return nil
	}
	raw, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var old flespiState
	if err := json.Unmarshal(raw, &old); err != nil {
		return fmt.Errorf("%s is not the state of a flespi import (%v); remove it or use -restart", st.path, err)
	}
	if old.Host != st.Host || old.Selector != st.Selector || old.From != st.From || old.To != st.To {
		return fmt.Errorf("%s records an import of %s %s from %v to %v, not this one; use -restart or another -state", st.path, old.Host, old.Selector, old.From, old.To)
	}
	old.path = st.path
	if old.Devices == nil {
		old.Devices = map[string]float64{}
	}
	*st = old
	return nil
}

// flespiPages asks for the pages one after another.
type flespiPages struct {
	src       FlespiSource
	st        *flespiState
	pipe      *pipeline.Pipeline
	sum       *Summary
	out       io.Writer
	terminal  bool
	name      string
	start     time.Time
	startDone int
	printed   time.Time
	count     int // the page size of the next request: doubled while a page holds one time only
}

// next asks for the page at the cursor, stores what it has not stored
// yet, and moves the cursor past it.
func (p *flespiPages) next(ctx context.Context) error {
	if p.count == 0 {
		p.count = p.src.PageSize
	}
	msgs, err := p.fetch(ctx)
	if err != nil {
		return err
	}
	page, err := p.read(msgs)
	if err != nil {
		return err
	}
	if err := p.store(ctx, page); err != nil {
		return err
	}
	st := p.st
	st.Done += len(page.fresh)
	for ident, t := range page.devices {
		st.Devices[ident] = max(st.Devices[ident], t)
	}
	switch {
	case len(msgs) < p.count: // the last page
		st.Complete = true
	case page.last > st.Cursor:
		st.Cursor, st.AtCursor, p.count = page.last, page.atLast, p.src.PageSize
	default:
		// A whole page of one time: ask for more at once, or the next
		// page would be this one again.
		st.AtCursor = union(st.AtCursor, page.atLast)
		p.count *= 2
	}
	if err := st.save(); err != nil {
		return err
	}
	p.print(false)
	return nil
}

// fetch asks flespi for the page at the cursor, trying again on 429 and
// 5xx, and stopping at once on what waiting does not cure.
func (p *flespiPages) fetch(ctx context.Context) ([]json.RawMessage, error) {
	data, _ := json.Marshal(map[string]any{"from": json.Number(strconv.FormatFloat(p.st.Cursor, 'f', 6, 64)),
		"to": json.Number(strconv.FormatFloat(p.st.To, 'f', 6, 64)), "count": p.count})
	u := strings.TrimSuffix(p.src.Host, "/") + "/gw/devices/" + url.PathEscape(p.src.Selector) + "/messages?data=" + url.QueryEscape(string(data))
	var result []json.RawMessage
	var wait time.Duration
	for attempt := 1; ; attempt++ {
		var again bool
		var err error
		result, wait, again, err = p.get(ctx, u)
		if err == nil {
			return result, nil
		}
		if !again || attempt >= flespiRetry.Tries || ctx.Err() != nil {
			return nil, err
		}
		if wait == 0 {
			wait = flespiRetry.Wait(attempt)
		}
		fmt.Fprintf(p.out, "%s: %v; trying again in %v\n", p.name, err, wait)
		if err := p.src.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// get makes one request: the page, or an error, whether it is worth
// trying again, and how long flespi asked to wait (Retry-After).
func (p *flespiPages) get(ctx context.Context, u string) (result []json.RawMessage, wait time.Duration, again bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, false, err
	}
	req.Header.Set("Authorization", "FlespiToken "+p.src.Token)
	req.Header.Set("x-flespi-app", "flespi-exporter")
	resp, err := p.src.Client.Do(req)
	if err != nil {
		return nil, 0, ctx.Err() == nil, fmt.Errorf("asking flespi: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, true, fmt.Errorf("reading flespi's answer: %w", err)
	}
	var answer struct {
		Result []json.RawMessage `json:"result"`
		Errors []struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(body, &answer)
	reason := strings.TrimSpace(string(body))
	if len(answer.Errors) > 0 {
		reason = fmt.Sprintf("%d %s", answer.Errors[0].Code, answer.Errors[0].Reason)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		return nil, 0, false, fmt.Errorf("flespi refused the token (%s): check FLESPI_TOKEN", reason)
	case code == http.StatusForbidden:
		return nil, 0, false, fmt.Errorf("the token may not read these devices' messages (%s): its ACL needs GET on gw/devices, messages (flespi panel → Tokens → ACL)", reason)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, retryAfter(resp.Header.Get("Retry-After")), true, fmt.Errorf("flespi answered %s (%s)", resp.Status, reason)
	case code != http.StatusOK:
		return nil, 0, false, fmt.Errorf("flespi answered %s (%s)", resp.Status, reason)
	case len(answer.Errors) > 0:
		// An error beside a result: the page may be short of messages.
		return nil, 0, answer.Errors[0].Code == 429 || answer.Errors[0].Code >= 500, fmt.Errorf("flespi's answer holds an error: %s", reason)
	}
	return answer.Result, 0, false, nil
}

// retryAfter reads a Retry-After of seconds or an HTTP date; 0 without.
func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// page is a page's messages to store and what it moves the cursor to.
type page struct {
	fresh   []json.RawMessage // not stored yet
	last    float64           // the time of its last message
	atLast  []uint64          // keys of its messages at last
	devices map[string]float64
}

// read leaves out the messages at the cursor stored already and finds the
// page's last time.
func (p *flespiPages) read(msgs []json.RawMessage) (page, error) {
	pg := page{last: p.st.Cursor, devices: map[string]float64{}}
	stored := map[uint64]bool{}
	for _, k := range p.st.AtCursor {
		stored[k] = true
	}
	for _, raw := range msgs {
		var m struct {
			Ident     string      `json:"ident"`
			Timestamp json.Number `json:"timestamp"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return pg, fmt.Errorf("flespi sent a message that is not a JSON object: %v", err)
		}
		t, err := m.Timestamp.Float64()
		if err != nil {
			return pg, fmt.Errorf("flespi sent a message without a timestamp: %.200s", raw)
		}
		k := messageKey(raw)
		if t == p.st.Cursor && stored[k] {
			continue
		}
		pg.fresh = append(pg.fresh, raw)
		if m.Ident != "" {
			pg.devices[m.Ident] = max(pg.devices[m.Ident], t)
		}
		if t > pg.last {
			pg.last, pg.atLast = t, pg.atLast[:0]
		}
		if t == pg.last {
			pg.atLast = append(pg.atLast, k)
		}
	}
	if pg.last == p.st.Cursor {
		pg.atLast = union(p.st.AtCursor, pg.atLast)
	}
	return pg, nil
}

func messageKey(raw []byte) uint64 {
	h := fnv.New64a()
	h.Write(raw)
	return h.Sum64()
}

func union(a, b []uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, k := range append(append([]uint64(nil), a...), b...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// store maps and stores a page's fresh messages, as a file's chunk is.
func (p *flespiPages) store(ctx context.Context, pg page) error {
	if len(pg.fresh) == 0 {
		return nil
	}
	var body bytes.Buffer
	body.WriteByte('[')
	for i, m := range pg.fresh {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(m)
	}
	body.WriteByte(']')
	b := p.pipe.Begin("import", time.Now())
	defer b.Release()
	if err := b.Add(body.Bytes()); err != nil {
		return err
	}
	if err := storeChunk(ctx, b, p.sum); err != nil {
		return err
	}
	p.sum.Messages += len(pg.fresh)
	return nil
}

// print shows the progress: messages, the time reached, the rate and the
// time left by the share of the range covered.
func (p *flespiPages) print(final bool) {
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	if !final && time.Since(p.printed) < every {
		return
	}
	p.printed = time.Now()
	st := p.st
	covered := 1.0
	if st.To > st.From && !st.Complete {
		covered = min(max((st.Cursor-st.From)/(st.To-st.From), 0), 1)
	}
	elapsed := time.Since(p.start)
	rate := float64(st.Done-p.startDone) / max(elapsed.Seconds(), 1e-3)
	eta := "-"
	if covered > 0 && covered < 1 && st.Done > p.startDone {
		eta = (time.Duration(float64(elapsed) * (1 - covered) / covered)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s: %d messages of %d devices, up to %s (%.0f%% of the range), %.0f msg/s, ETA %s",
		p.name, st.Done, len(st.Devices), time.Unix(0, int64(st.Cursor*1e9)).UTC().Format(time.RFC3339), 100*covered, rate, eta)
	if p.terminal && !final {
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		return
	}
	if p.terminal {
		fmt.Fprintf(p.out, "\r\033[K")
	}
	fmt.Fprintln(p.out, line)
}

func unix(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
