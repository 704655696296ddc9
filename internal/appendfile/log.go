package appendfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Log is a JSON-lines file bounded in size: past max bytes it is rotated
// (path becomes path.1, path.1 path.2, ... keep of them kept, the oldest
// removed), so that a storm of refusals (InfluxDB 1.8's max-values-per-tag
// refused every new device: 41 MB of dead letters per 100,000 messages)
// cannot fill the disk. Appends are whole or nothing (Append).
type Log struct {
	path string
	max  int64
	keep int
	f    *os.File
	out  File // f, or a test's failing file
}

// Open opens (creating) the log at path for appending.
func Open(path string, max int64, keep int) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	l := &Log{path: path, max: max, keep: keep}
	return l, l.open()
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	l.f, l.out = f, f
	return nil
}

// File is the open file, to read what it holds at start.
func (l *Log) File() *os.File { return l.f }

// SetOutput replaces the file appends go to (tests: a full disk).
func (l *Log) SetOutput(f File) { l.out = f }

// Append appends b whole, or nothing, rotating first when b would take the
// file past its bound.
func (l *Log) Append(b []byte) error {
	if st, err := l.out.Stat(); err == nil && st.Size() > 0 && st.Size()+int64(len(b)) > l.max {
		if err := l.rotate(); err != nil {
			return fmt.Errorf("rotating %s: %w", l.path, err)
		}
	}
	return Append(l.out, b)
}

// rotate moves the file aside as path.1 (and the older ones one up, the
// oldest past keep removed) and starts a new one.
func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	_ = os.Remove(fmt.Sprintf("%s.%d", l.path, l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	if l.keep > 0 {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return err
		}
	} else if err := os.Remove(l.path); err != nil {
		return err
	}
	return l.open()
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }
