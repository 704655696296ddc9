package mqtt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"
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

// write appends one payload and syncs: it is acknowledged right after.
func (r *rejectedFile) write(topic string, payload []byte, cause error, now time.Time) error {
	if r.f == nil {
		return nil
	}
	line, err := json.Marshal(struct {
		Time    string `json:"time"`
		Error   string `json:"error"`
		Topic   string `json:"topic"`
		Payload string `json:"payload"`
	}{now.UTC().Format(time.RFC3339Nano), cause.Error(), topic, string(payload)})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *rejectedFile) close() {
	if r.f != nil {
		r.f.Close()
	}
}
