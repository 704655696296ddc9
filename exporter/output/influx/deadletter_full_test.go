package influx

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
)

// fullDisk is a file whose writes stop after room bytes, as on a full
// disk: the write that passes it writes what fits and fails.
type fullDisk struct {
	*os.File
	room int
}

func (f *fullDisk) Write(b []byte) (int, error) {
	if len(b) <= f.room {
		f.room -= len(b)
		return f.File.Write(b)
	}
	n, _ := f.File.Write(b[:f.room])
	f.room = 0
	return n, errors.New("no space left on device")
}

// TestDeadLettersOnAFullDisk: a dead-letter write cut short leaves the
// file as it was (no half line for the next entry to be appended onto),
// the batch is not acknowledged, and once there is room again its entries
// are written whole, once.
func TestDeadLettersOnAFullDisk(t *testing.T) {
	db := fakeinflux.Start(t)
	db.Refuse(func(line string) string {
		if strings.Contains(line, "ident=d3") {
			return "unable to parse"
		}
		return ""
	})
	path := filepath.Join(t.TempDir(), "dead-letters.jsonl")
	s, _ := newSink(t, db, 100, time.Second, path)
	disk := &fullDisk{File: s.dead.f.File(), room: 10}
	s.dead.f.SetOutput(disk)
	l := conflictLines(5)
	if _, err := s.Write(t.Context(), l); err == nil {
		t.Fatal("a batch whose dead letters could not be kept was stored without an error")
	}
	if data, _ := os.ReadFile(path); len(data) != 0 {
		t.Errorf("the cut write left %q in the file", data)
	}
	disk.room = 1 << 20
	w, err := s.Write(t.Context(), l)
	if err != nil || w.DeadLettered != 1 {
		t.Fatalf("with room again: %+v, %v", w, err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "{") || !strings.HasSuffix(lines[0], "}") {
		t.Errorf("the file holds %q, want one whole entry", data)
	}
}

// TestRefusalsLoggedOnce: the values one write has refused are one log
// line, not one each; InfluxDB 1.x's max-values-per-tag is named with the
// setting that lifts it.
func TestRefusalsLoggedOnce(t *testing.T) {
	db := fakeinflux.Start(t)
	db.Refuse(func(line string) string {
		if strings.Contains(line, "ident=d1") {
			return ""
		}
		return `max-values-per-tag limit exceeded (100000/100000): measurement="flespi" tag="ident" value="dX" dropped=1`
	})
	var logs bytes.Buffer
	s, err := New(config.InfluxDB{URL: db.URL, Bucket: "db/autogen", Timeout: config.Duration(time.Second), BatchSize: 100}, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(t.Context(), conflictLines(50)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "max-values-per-tag = 0") {
		t.Errorf("%d log lines for 49 refused points:\n%s", n, logs.String())
	}
}
