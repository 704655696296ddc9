package backfill

import (
	"bufio"
	"bytes"
	"encoding/json"
	"hash/fnv"

	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
)

// dumpMessages finds the messages in a file to import: a flespi REST
// answer holds them in "result"; a dead-letter file holds them in each
// entry's "message" (a replay); anything else is messages already. bad
// are the lines of a dead-letter file that could not be read.
func dumpMessages(data []byte) (msgs []byte, bad []int, err error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return data, nil, nil
	}
	if msgs, bad, ok := deadLetterMessages(trimmed); ok {
		return msgs, bad, nil
	}
	var answer struct {
		Result json.RawMessage `json:"result"`
	}
	// A flespi REST answer is one object; JSON lines are several, and the
	// first decode then stops at the second.
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&answer); err != nil || dec.More() || len(answer.Result) == 0 {
		return data, nil, nil
	}
	return answer.Result, nil, nil
}

// deadLetterMessages returns the messages of a dead-letter file as JSON
// lines, each once (a message with several refused values has several
// entries), when data is one: its first line is an entry. bad are the
// numbers of the lines that are not entries (cut short by a crash or a
// full disk): said, not skipped without a word.
func deadLetterMessages(data []byte) (out []byte, bad []int, ok bool) {
	seen := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for first := true; sc.Scan(); first = false {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e deadletter.Point
		if err := json.Unmarshal(line, &e); err != nil || e.Line == "" || len(e.Message) == 0 {
			if first {
				return nil, nil, false // not a dead-letter file
			}
			bad = append(bad, n)
			continue
		}
		h := fnv.New64a()
		h.Write(e.Message)
		if k := h.Sum64(); !seen[k] {
			seen[k] = true
			out = append(append(out, e.Message...), '\n')
		}
	}
	return out, bad, sc.Err() == nil
}
