// Package deadletter holds the formats of the outputs' dead-letter files:
// what an output writes when a store refuses something for good, and what
// the import source reads back to replay it. Neither side imports the
// other: both import this.
package deadletter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Point is one line of the InfluxDB output's dead-letter file: a point,
// or one field of it, that InfluxDB refused for good.
type Point struct {
	Time  string `json:"time"`  // when it was refused, RFC 3339
	Error string `json:"error"` // what InfluxDB said
	// Field is the refused field, key=value, when only it was refused: the
	// rest of the point is stored. Empty when the whole point was refused.
	Field   string          `json:"field,omitempty"`
	Line    string          `json:"line"`    // the point as it was sent, line protocol
	Message json.RawMessage `json:"message"` // the flespi message it came from
}

// Series is one line of the remote write output's dead-letter file: a
// series' samples the receiver refused for good, with its answer.
type Series struct {
	Time    string            `json:"time"`  // when it was refused (RFC 3339)
	Error   string            `json:"error"` // the receiver's answer
	Labels  map[string]string `json:"series"`
	Samples []Sample          `json:"samples"`
}

// Sample is a sample as [Unix milliseconds, value]; a value JSON has no
// number for is written "NaN", "+Inf" or "-Inf".
type Sample struct {
	MS    int64
	Value float64
}

func (s Sample) MarshalJSON() ([]byte, error) {
	v := strconv.FormatFloat(s.Value, 'g', -1, 64)
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		v = strconv.Quote(v)
	}
	return []byte("[" + strconv.FormatInt(s.MS, 10) + "," + v + "]"), nil
}

func (s *Sample) UnmarshalJSON(b []byte) error {
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if err := json.Unmarshal(pair[0], &s.MS); err != nil {
		return fmt.Errorf("sample time: %w", err)
	}
	v, err := strconv.ParseFloat(strings.Trim(string(pair[1]), `"`), 64)
	if err != nil {
		return fmt.Errorf("sample value: %w", err)
	}
	s.Value = v
	return nil
}

// IsPointFile reports whether data's first line is an InfluxDB dead
// letter.
func IsPointFile(data []byte) bool {
	var e Point
	return json.Unmarshal(firstLine(data), &e) == nil && e.Line != "" && len(e.Message) > 0
}

// IsSeriesFile reports whether data's first line is a remote write dead
// letter.
func IsSeriesFile(data []byte) bool {
	var e Series
	return json.Unmarshal(firstLine(data), &e) == nil && e.Labels["__name__"] != ""
}

func firstLine(data []byte) []byte {
	first, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("\n"))
	return first
}

// ReadSeries reads a remote write dead-letter file; bad are the numbers
// of the lines that are not entries (cut short by a crash or a full disk).
func ReadSeries(data []byte) (entries []Series, bad []int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Series
		if err := json.Unmarshal(line, &e); err != nil || e.Labels["__name__"] == "" {
			bad = append(bad, n)
			continue
		}
		entries = append(entries, e)
	}
	return entries, bad, sc.Err()
}
