package remotewrite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// DeadLetter is one line of the remote write dead-letter file: a series'
// samples the receiver refused for good, with its answer.
type DeadLetter struct {
	Time    string            `json:"time"`  // when it was refused (RFC 3339)
	Error   string            `json:"error"` // the receiver's answer
	Series  map[string]string `json:"series"`
	Samples []DeadSample      `json:"samples"`
}

// DeadSample is a sample as [Unix milliseconds, value]; a value JSON has
// no number for is written "NaN", "+Inf" or "-Inf".
type DeadSample struct {
	MS    int64
	Value float64
}

func (s DeadSample) MarshalJSON() ([]byte, error) {
	v := strconv.FormatFloat(s.Value, 'g', -1, 64)
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		v = strconv.Quote(v)
	}
	return []byte("[" + strconv.FormatInt(s.MS, 10) + "," + v + "]"), nil
}

func (s *DeadSample) UnmarshalJSON(b []byte) error {
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if err := json.Unmarshal(pair[0], &s.MS); err != nil {
		return fmt.Errorf("sample time: %w", err)
	}
	raw := strings.Trim(string(pair[1]), `"`)
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return fmt.Errorf("sample value: %w", err)
	}
	s.Value = v
	return nil
}

// deadLetter keeps a refused request's series: a JSON line each.
func (w *Writer) deadLetter(req *writeRequest, cause error) error {
	if w.dead == nil {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var lines []byte
	for _, c := range req.chunks {
		e := DeadLetter{Time: now, Error: cause.Error(), Series: make(map[string]string, len(c.labels))}
		for _, l := range c.labels {
			e.Series[l.Name] = l.Value
		}
		for _, s := range c.samples {
			e.Samples = append(e.Samples, DeadSample{s.ms, s.value})
		}
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		lines = append(append(lines, line...), '\n')
	}
	w.deadMu.Lock()
	defer w.deadMu.Unlock()
	if err := w.dead.Append(lines); err != nil {
		return fmt.Errorf("keeping %d samples the remote write receiver refused in the dead-letter file: %w", req.samples, err)
	}
	return nil
}

// IsDeadLetterFile reports whether data's first line is a remote write
// dead-letter entry.
func IsDeadLetterFile(data []byte) bool {
	first, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("\n"))
	var e DeadLetter
	return json.Unmarshal(first, &e) == nil && len(e.Series) > 0 && e.Series["__name__"] != ""
}

// ReadDeadLetters reads a dead-letter file; bad are the numbers of the
// lines that are not entries (cut short by a crash or a full disk).
func ReadDeadLetters(data []byte) (entries []DeadLetter, bad []int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e DeadLetter
		if err := json.Unmarshal(line, &e); err != nil || e.Series["__name__"] == "" {
			bad = append(bad, n)
			continue
		}
		entries = append(entries, e)
	}
	return entries, bad, sc.Err()
}

// Replay sends dead-lettered samples to the receiver again (after its
// window was widened, say), as a batch is sent: what it refuses again is
// narrowed down and dead-lettered again. Samples of a series in several
// entries go together, in time order. It returns the samples taken and
// refused; an error is a passing failure or a setting, and nothing
// of the entries may count as done.
func (w *Writer) Replay(ctx context.Context, entries []DeadLetter) (taken, refused int, err error) {
	bySeries := map[string]*series{}
	var order []*series
	for _, e := range entries {
		key := seriesKey(e.Series)
		se := bySeries[key]
		if se == nil {
			se = &series{labels: labelsOf(e.Series)}
			bySeries[key] = se
			order = append(order, se)
		}
		for _, s := range e.Samples {
			se.samples = append(se.samples, sample{s.MS, s.Value})
		}
	}
	p := &part{order: order}
	var buf []byte
	for _, req := range p.requests(w.batch, nil) {
		t, d, err := w.send(ctx, req, &buf)
		taken += t
		refused += d
		if err != nil {
			return taken, refused, err
		}
	}
	return taken, refused, nil
}

// labelsOf are a dead letter's labels as sent: __name__, then by name.
func labelsOf(m map[string]string) []mapping.Label {
	out := make([]mapping.Label, 0, len(m))
	for k, v := range m {
		if k != "__name__" {
			out = append(out, mapping.Label{Name: k, Value: v})
		}
	}
	slices.SortFunc(out, func(a, b mapping.Label) int { return strings.Compare(a.Name, b.Name) })
	return append([]mapping.Label{{Name: "__name__", Value: m["__name__"]}}, out...)
}

func seriesKey(m map[string]string) string {
	var b strings.Builder
	for _, l := range labelsOf(m) {
		b.WriteString(l.Name)
		b.WriteByte(0xfe)
		b.WriteString(l.Value)
		b.WriteByte(0xff)
	}
	return b.String()
}
