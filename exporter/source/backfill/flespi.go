package backfill

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
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
// that time already stored are left out.
//
// What was read is kept per selector, as the time ranges read whole
// (covered), after every page: a run reads only what its range has outside
// them. So the same command with a relative range (-from 30d -to now) run
// again continues where an interrupted run stopped and then reads only
// what is new since the last run (an incremental backfill, as often as
// wanted); a wider -from reads only the older part; a finished range asks
// nothing.

// FlespiSource says what to read from flespi.
type FlespiSource struct {
	Host     string // https://flespi.io, or https://ru.flespi.io
	Token    string // a flespi token that may read the devices' messages
	Selector string // "all", ids "123,456", or "configuration.ident=..."
	From, To time.Time
	PageSize int // messages a request asks for; 1,000 when 0
	// Client and Sleep are the HTTP client and the wait between retries
	// (tests shorten them).
	Client *http.Client                                     `json:"-"`
	Sleep  func(ctx context.Context, d time.Duration) error `json:"-"`
}

// span is a time range in Unix microseconds, both ends included.
type span [2]int64

// flespiState is what a selector's backfills read, kept after every page.
type flespiState struct {
	path     string
	Host     string `json:"host"`
	Selector string `json:"selector"`
	// Covered are the ranges read whole, sorted and apart.
	Covered []span `json:"covered"`
	// ReadingAt is where a run stopped in the middle of a range: the
	// range after the covered one ending just before it. The messages at
	// that time stored already are AtCursor.
	ReadingAt int64    `json:"reading_at,omitempty"`
	AtCursor  []uint64 `json:"at_cursor,omitempty"`
	// Devices is, per ident, the time of the last message stored.
	Devices map[string]float64 `json:"devices"`
	Done    int                `json:"done"` // messages stored, all runs
}

func (s *flespiState) save() error { return saveState(s.path, s) }

// cover adds sp to the covered ranges, joining those it touches.
func (s *flespiState) cover(sp span) {
	out := make([]span, 0, len(s.Covered)+1)
	for _, c := range s.Covered {
		switch {
		case c[1]+1 < sp[0] || sp[1]+1 < c[0]:
			out = append(out, c)
		default:
			sp = span{min(sp[0], c[0]), max(sp[1], c[1])}
		}
	}
	out = append(out, sp)
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a[0], b[0]) })
	s.Covered = out
}

// missing is what of [from, to] is not covered, oldest first.
func (s *flespiState) missing(from, to int64) []span {
	var out []span
	at := from
	for _, c := range s.Covered {
		if c[1] < at || c[0] > to {
			continue
		}
		if c[0] > at {
			out = append(out, span{at, c[0] - 1})
		}
		at = c[1] + 1
	}
	if at <= to {
		out = append(out, span{at, to})
	}
	return out
}

// share is how much of [from, to] is covered, 0 to 1.
func (s *flespiState) share(from, to int64) float64 {
	if to <= from {
		return 1
	}
	var in int64
	for _, c := range s.Covered {
		in += max(0, min(c[1], to)-max(c[0], from)+1)
	}
	return min(float64(in)/float64(to-from+1), 1)
}

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
	st := flespiState{path: statePath, Host: src.Host, Selector: src.Selector, Devices: map[string]float64{}}
	if err := loadFlespiState(&st, opts.Restart); err != nil {
		return err
	}
	name := "flespi " + src.Selector
	from, to := src.From.UnixMicro(), src.To.UnixMicro()
	gaps := st.missing(from, to)
	if len(gaps) == 0 {
		fmt.Fprintf(opts.Progress, "%s: imported already (%d messages, all of %s to %s read); -restart imports it again\n",
			name, st.Done, src.From.UTC().Format(time.RFC3339), src.To.UTC().Format(time.RFC3339))
		sum.Messages += st.Done
		sum.Resumed += st.Done
		return nil
	}
	if st.ReadingAt != 0 && gaps[0][0] == st.ReadingAt {
		fmt.Fprintf(opts.Progress, "%s: resuming at %s, %d messages stored by earlier runs\n", name, micros(st.ReadingAt).Format(time.RFC3339), st.Done)
	} else if len(st.Covered) > 0 {
		fmt.Fprintf(opts.Progress, "%s: reading only what earlier runs did not: %s\n", name, spans(gaps))
	}
	p := &flespiPages{src: src, st: &st, pipe: pipe, sum: sum, out: opts.Progress, terminal: opts.Terminal, name: name,
		start: time.Now(), startDone: st.Done, from: from, to: to}
	for _, g := range gaps {
		if err := p.read(ctx, g); err != nil {
			p.print(true)
			return err
		}
	}
	p.print(true)
	return nil
}

// micros is a time of Unix microseconds.
func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// spans writes ranges for people.
func spans(ss []span) string {
	var parts []string
	for _, s := range ss {
		parts = append(parts, micros(s[0]).Format(time.RFC3339)+" to "+micros(s[1]).Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// oldFlespiState is the state file of a version that kept one range:
// read, it becomes what it covered.
type oldFlespiState struct {
	From, To, Cursor float64
	Complete         bool
}

func loadFlespiState(st *flespiState, restart bool) error {
	if restart {
		return nil
	}
	var raw json.RawMessage
	if found, err := readJSON(st.path, &raw, "the state of a flespi import"); !found || err != nil {
		return err
	}
	var got flespiState
	var old oldFlespiState
	if err := json.Unmarshal(raw, &got); err != nil {
		return fmt.Errorf("%s is not the state of a flespi import (%v); remove it or use -restart", st.path, err)
	}
	_ = json.Unmarshal(raw, &old) // a state of before: one range
	if got.Host != st.Host || got.Selector != st.Selector {
		return fmt.Errorf("%s records an import of %s %s, not of %s %s; use -restart or another -state", st.path, got.Host, got.Selector, st.Host, st.Selector)
	}
	if got.Covered == nil && old.From != 0 {
		from := int64(math.Round(old.From * 1e6))
		switch {
		case old.Complete:
			got.Covered = []span{{from, int64(math.Round(old.To * 1e6))}}
		case old.Cursor > old.From:
			got.ReadingAt = int64(math.Round(old.Cursor * 1e6))
			got.Covered = []span{{from, got.ReadingAt - 1}}
		default:
			got.AtCursor = nil
		}
	}
	got.path = st.path
	if got.Devices == nil {
		got.Devices = map[string]float64{}
	}
	*st = got
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
	from, to  int64 // the run's range, for the progress

	cursor   int64    // the next page starts here (inclusive)
	atCursor []uint64 // messages at cursor stored already
	end      int64    // of the range being read
	count    int      // the page size of the next request: doubled while a page holds one time only
}

// read reads the range g page by page, keeping what is covered after
// each page. The range ends with an empty page (or the cursor past its
// end): a page shorter than asked is not the end, since flespi may cap a
// page.
func (p *flespiPages) read(ctx context.Context, g span) error {
	p.cursor, p.end, p.atCursor, p.count = g[0], g[1], nil, p.src.PageSize
	if p.st.ReadingAt == g[0] {
		p.atCursor = p.st.AtCursor
	}
	for {
		done, err := p.next(ctx)
		if err != nil {
			return err
		}
		st := p.st
		if done {
			st.cover(g)
			st.ReadingAt, st.AtCursor = 0, nil
		} else {
			if p.cursor > g[0] {
				st.cover(span{g[0], p.cursor - 1})
			}
			st.ReadingAt, st.AtCursor = p.cursor, p.atCursor
		}
		if err := st.save(); err != nil {
			return err
		}
		p.print(false)
		if done {
			return nil
		}
	}
}

// next asks for the page at the cursor, stores what it has not stored
// yet, and moves the cursor past it; done reports the range's end.
func (p *flespiPages) next(ctx context.Context) (done bool, err error) {
	msgs, err := p.fetch(ctx)
	if err != nil {
		return false, err
	}
	page, err := p.page(msgs)
	if err != nil {
		return false, err
	}
	if err := p.store(ctx, page); err != nil {
		return false, err
	}
	st := p.st
	st.Done += len(page.fresh)
	for ident, t := range page.devices {
		st.Devices[ident] = max(st.Devices[ident], t)
	}
	switch {
	case len(msgs) == 0 || p.cursor > p.end:
		return true, nil
	case page.last > p.cursor:
		p.cursor, p.atCursor, p.count = page.last, page.atLast, p.src.PageSize
	case len(msgs) >= p.count:
		// A whole page of one time: ask for more at once, or the next
		// page would be this one again.
		p.atCursor = union(p.atCursor, page.atLast)
		p.count *= 2
	default:
		// Every message at the cursor flespi gives is stored: on past it.
		// (A page shorter than asked is not the end: flespi may cap a
		// page. Only more messages in one microsecond than its cap would
		// be left out.)
		p.cursor, p.atCursor, p.count = p.cursor+1, nil, p.src.PageSize
	}
	return false, nil
}

// fetch asks flespi for the page at the cursor, trying again on 429 and
// 5xx, and stopping at once on what waiting does not cure.
func (p *flespiPages) fetch(ctx context.Context) ([]json.RawMessage, error) {
	data, _ := json.Marshal(map[string]any{"from": seconds(p.cursor), "to": seconds(p.end), "count": p.count})
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
	last    int64             // the time of its last message, Unix µs
	atLast  []uint64          // keys of its messages at last
	devices map[string]float64
}

// page leaves out the messages at the cursor stored already and finds the
// page's last time.
func (p *flespiPages) page(msgs []json.RawMessage) (page, error) {
	pg := page{last: p.cursor, devices: map[string]float64{}}
	stored := map[uint64]bool{}
	for _, k := range p.atCursor {
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
		us := int64(math.Round(t * 1e6))
		k := messageKey(raw)
		if us == p.cursor && stored[k] {
			continue
		}
		pg.fresh = append(pg.fresh, raw)
		if m.Ident != "" {
			pg.devices[m.Ident] = max(pg.devices[m.Ident], t)
		}
		if us > pg.last {
			pg.last, pg.atLast = us, pg.atLast[:0]
		}
		if us == pg.last {
			pg.atLast = append(pg.atLast, k)
		}
	}
	if pg.last == p.cursor {
		pg.atLast = union(p.atCursor, pg.atLast)
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
	b := p.pipe.Begin(pipeline.SourceImport, time.Now())
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
	covered := st.share(p.from, p.to)
	elapsed := time.Since(p.start)
	rate := float64(st.Done-p.startDone) / max(elapsed.Seconds(), 1e-3)
	eta := "-"
	if covered > 0 && covered < 1 && st.Done > p.startDone {
		eta = (time.Duration(float64(elapsed) * (1 - covered) / covered)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s: %d messages of %d devices, up to %s (%.0f%% of the range), %.0f msg/s, ETA %s",
		p.name, st.Done, len(st.Devices), micros(p.cursor).Format(time.RFC3339), 100*covered, rate, eta)
	if p.terminal && !final {
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		return
	}
	if p.terminal {
		fmt.Fprintf(p.out, "\r\033[K")
	}
	fmt.Fprintln(p.out, line)
}

// seconds is a time of Unix microseconds as flespi takes it: seconds with
// six decimals.
func seconds(us int64) json.Number {
	return json.Number(strconv.FormatFloat(float64(us)/1e6, 'f', 6, 64))
}

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
