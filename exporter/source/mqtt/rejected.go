package mqtt

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
)

// rejectedFile appends MQTT payloads that can never be stored, as JSON
// lines {"time", "error", "topic", "payload"}.
type rejectedFile struct {
	mu sync.Mutex
	f  *appendfile.Log // nil: only logged
}

func openRejected(path string) (*rejectedFile, error) {
	if path == "" {
		return &rejectedFile{}, nil
	}
	// Bounded: 64 MiB, one old file kept (mqtt-rejected.jsonl.1).
	f, err := appendfile.Open(path, 64<<20, 1)
	if err != nil {
		return nil, err
	}
	return &rejectedFile{f: f}, nil
}

// rejected is a payload that can never be stored, and why.
type rejected struct {
	topic   string
	payload []byte
	err     error
}

// write appends the payloads in one write and syncs: they are
// acknowledged right after, and only if it succeeded.
func (r *rejectedFile) write(rs []rejected, now time.Time) error {
	if r.f == nil {
		return nil
	}
	var lines []byte
	for _, rj := range rs {
		line, err := json.Marshal(struct {
			Time    string `json:"time"`
			Error   string `json:"error"`
			Topic   string `json:"topic"`
			Payload string `json:"payload"`
		}{now.UTC().Format(time.RFC3339Nano), rj.err.Error(), rj.topic, string(rj.payload)})
		if err != nil {
			return err
		}
		lines = append(append(lines, line...), '\n')
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Append(lines)
}

func (r *rejectedFile) close() {
	if r.f != nil {
		r.f.Close()
	}
}
