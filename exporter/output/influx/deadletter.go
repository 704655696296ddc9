package influx

import (
	"bufio"
	"encoding/json"
	"github.com/flespi-exporter/flespi-exporter/exporter/deadletter"
	"hash/fnv"
	"io"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
)

// deadLetterFile appends what InfluxDB refused for good, as JSON lines, so
// that nothing acknowledged to flespi is lost without a trace. It
// remembers what it holds, so that a batch sent again (flespi resends when
// our 200 is lost) adds nothing twice.
type deadLetterFile struct {
	mu   sync.Mutex
	f    *appendfile.Log
	seen map[uint64]struct{} // keys of the entries written, the newest maxSeen
	ring []uint64            // the same keys in order of writing, to forget the oldest
	next int                 // where the ring writes next
}

// maxSeen bounds the entries the file remembers (8 bytes each, twice).
const maxSeen = 1 << 20

// loadTail bounds how much of an existing file is read at start to
// remember its entries.
const loadTail = 64 << 20

// DeadLetter is one line of the dead-letter file.
type DeadLetter = deadletter.Point

// The dead-letter file is rotated past deadLetterMax bytes, deadLetterKeep
// old files kept (dead-letters.jsonl.1, .2, .3): at most 1 GiB of disk.
const (
	deadLetterMax  = 256 << 20
	deadLetterKeep = 3
)

func openDeadLetters(path string) (*deadLetterFile, error) {
	f, err := appendfile.Open(path, deadLetterMax, deadLetterKeep)
	if err != nil {
		return nil, err
	}
	d := &deadLetterFile{f: f, seen: map[uint64]struct{}{}}
	if err := d.load(); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// load remembers the entries of the file's last loadTail bytes.
func (d *deadLetterFile) load() error {
	file := d.f.File()
	size, err := file.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	start := max(0, size-loadTail)
	sc := bufio.NewScanner(io.NewSectionReader(file, start, size-start))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for first := start > 0; sc.Scan(); first = false {
		var e DeadLetter
		if first || json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a line cut by the tail, or not ours
		}
		d.remember(key(e.Line, e.Field))
	}
	return sc.Err()
}

// key identifies an entry by what was refused: the same message makes the
// same line, so a resent batch makes the same keys.
func key(line, field string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(line))
	h.Write([]byte{0})
	h.Write([]byte(field))
	return h.Sum64()
}

// remember adds k to what the file holds, forgetting the oldest past
// maxSeen. d.mu is held (or d is not shared yet).
func (d *deadLetterFile) remember(k uint64) {
	if len(d.ring) < maxSeen {
		d.ring = append(d.ring, k)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = k
		d.next = (d.next + 1) % maxSeen
	}
	d.seen[k] = struct{}{}
}

// write appends the rejections the file does not hold yet and syncs it:
// the batch is acknowledged right after, so the entries must be on disk by
// then. It returns how many it appended.
func (d *deadLetterFile) write(l *Lines, rejected []rejection, now time.Time) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var buf []byte
	var keys []uint64
	for _, r := range rejected {
		line := l.Span(r.line, r.line+1)
		text := string(line[:len(line)-1]) // without its newline
		k := key(text, r.field)
		if _, dup := d.seen[k]; dup {
			continue
		}
		entry, err := json.Marshal(DeadLetter{
			Time:    now.UTC().Format(time.RFC3339Nano),
			Error:   r.err.Error(),
			Field:   r.field,
			Line:    text,
			Message: json.RawMessage(l.Messages[l.Origin[r.line]]),
		})
		if err != nil {
			return 0, err
		}
		buf = append(append(buf, entry...), '\n')
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	if err := d.f.Append(buf); err != nil {
		return 0, err
	}
	for _, k := range keys {
		d.remember(k) // only once on disk
	}
	return len(keys), nil
}

func (d *deadLetterFile) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.f.Close()
}
