package mqtt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
)

// rejectedFile appends MQTT payloads that can never be stored, as JSON
// lines {"time", "error", "topic", "payload"}.
type rejectedFile struct {
	mu sync.Mutex
	f  *os.File // nil: only logged
}

func openRejected(path string) (*rejectedFile, error) {
	if path == "" {
		return &rejectedFile{}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
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
	return appendfile.Append(r.f, lines)
}

func (r *rejectedFile) close() {
	if r.f != nil {
		r.f.Close()
	}
}
