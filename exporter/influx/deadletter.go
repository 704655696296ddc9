package influx

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// deadLetterFile appends points that InfluxDB refused for good, as JSON
// lines, so that nothing acknowledged to flespi is lost without a trace.
type deadLetterFile struct {
	mu sync.Mutex
	f  *os.File
}

// DeadLetter is one line of the dead-letter file.
type DeadLetter struct {
	Time    string          `json:"time"`    // when it was rejected, RFC 3339
	Error   string          `json:"error"`   // what InfluxDB said
	Line    string          `json:"line"`    // the line protocol that was refused
	Message json.RawMessage `json:"message"` // the flespi message it came from
}

func openDeadLetters(path string) (*deadLetterFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &deadLetterFile{f: f}, nil
}

// write appends the rejected lines of l and syncs the file: the batch is
// acknowledged right after, so the entries must be on disk by then.
func (d *deadLetterFile) write(l *Lines, rejected []rejection, now time.Time) error {
	var buf []byte
	for _, r := range rejected {
		line := l.Span(r.line, r.line+1)
		entry, err := json.Marshal(DeadLetter{
			Time:    now.UTC().Format(time.RFC3339Nano),
			Error:   r.err.Error(),
			Line:    string(line[:len(line)-1]), // without its newline
			Message: json.RawMessage(l.Messages[l.Origin[r.line]]),
		})
		if err != nil {
			return err
		}
		buf = append(append(buf, entry...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(buf); err != nil {
		return err
	}
	return d.f.Sync()
}

func (d *deadLetterFile) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
