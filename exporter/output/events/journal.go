package events

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/internal/atomicfile"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// The detectors' state is a snapshot (events.state, gob, written whole
// now and then) and a journal (events.journal) of what happened since:
// every sample queued and every release, binary, appended once the events
// they close are stored. Restored, the snapshot and the journal replayed
// are the state the journal last had, events and counters included.
//
// The journal's header names the snapshot generation it follows: a
// journal of an older generation (the process died between writing a
// snapshot and starting the journal again) is already in the snapshot.
// Each commit is a record with its length and checksum: a torn last
// record is dropped with what it would have added, which flespi sends
// again, since its batch was not acknowledged.

const (
	stateFile   = "events.state"
	journalFile = "events.journal"
	// magic heads the journals this version writes; it reads those of
	// olderMagic too. A version that knows only olderMagic takes a journal
	// of magic for one of another generation and starts from the snapshot
	// (after a downgrade it loses what came since, rather than not
	// starting on a record it does not know).
	magic      = "FEJ3"
	olderMagic = "FEJ2"
	// snapshotAfter: the journal is folded into a snapshot once it holds
	// this much and twice the last snapshot (writing a large fleet's
	// snapshot costs more than replaying a journal of its size), or once
	// snapshotEvery has passed.
	snapshotAfter = 32 << 20
	snapshotEvery = 10 * time.Minute
)

type journal struct {
	dir     string
	f       *os.File
	gen     uint32
	nextID  uint32
	size    int64
	pending []byte // records of this commit
	snap    int64  // bytes of the last snapshot
	last    time.Time
}

// openJournal restores o's devices from dir, then starts a new
// generation: a snapshot of what was restored, and an empty journal.
func openJournal(dir string, o *Output) (*journal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	j := &journal{dir: dir}
	if err := j.restore(o); err != nil {
		return nil, err
	}
	if err := j.snapshot(o); err != nil {
		return nil, err
	}
	return j, nil
}

// restore reads the snapshot and replays the journal after it.
func (j *journal) restore(o *Output) error {
	data, err := os.ReadFile(filepath.Join(j.dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		var s snapshot
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
			// Of another version, or damaged: kept aside for a look, and
			// the events start afresh rather than the exporter not at all
			// (the counters start again from 0, which Prometheus' rate
			// and increase read as a restart).
			name := filepath.Join(j.dir, stateFile)
			aside := name + ".unreadable"
			o.log.Error("fleet events state unreadable: starting afresh, the old one kept aside", "file", name, "aside", aside, "err", err)
			if err := os.Rename(name, aside); err != nil {
				return err
			}
			_ = os.Remove(filepath.Join(j.dir, journalFile))
			return nil
		}
		j.gen = s.Gen
		for _, sd := range s.Devices {
			d := &device{out: o, ident: sd.Ident, tags: sd.Tags, name: sd.Name, det: sd.Det, q: sd.Queue}
			d.st = o.thresholds.Of(d.ident, d.name)
			o.devices[d.ident] = d
		}
		o.last = s.Last
		o.drains = s.Drains
	}
	return j.replay(o)
}

type snapshot struct {
	Gen     uint32
	Last    int64
	Devices []savedDevice
	Drains  []Drain // the recent ones, for the status page
}

type savedDevice struct {
	Ident string
	Tags  []mapping.Tag
	Name  string
	Det   fleet.Device
	Queue fleet.Queue
}

// replay applies the journal's complete records.
func (j *journal) replay(o *Output) error {
	data, err := os.ReadFile(filepath.Join(j.dir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(data) < 12 || (string(data[:4]) != magic && string(data[:4]) != olderMagic) || binary.LittleEndian.Uint64(data[4:12]) != uint64(j.gen) {
		return nil // of an older generation: the snapshot has it
	}
	ids := map[uint64]*device{} // by journal id
	rest := data[12:]
	for len(rest) >= 8 {
		n := binary.LittleEndian.Uint32(rest)
		sum := binary.LittleEndian.Uint32(rest[4:])
		if int(n) > len(rest)-8 || crc32.ChecksumIEEE(rest[8:8+n]) != sum {
			o.log.Warn("fleet events journal ends in a torn record; its batch was not acknowledged and comes again", "file", filepath.Join(j.dir, journalFile))
			break
		}
		if err := j.apply(o, ids, rest[8:8+n]); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(j.dir, journalFile), err)
		}
		rest = rest[8+n:]
	}
	clear(o.outbox) // stored before they were journaled
	o.outbox = o.outbox[:0]
	return nil
}

// apply replays one record.
func (j *journal) apply(o *Output, ids map[uint64]*device, rec []byte) error {
	r := reader{b: rec}
	for len(r.b) > 0 && r.err == nil {
		switch op := r.byte(); op {
		case 'D':
			id, ident := r.uvarint(), r.str()
			tags := make([]mapping.Tag, r.uvarint())
			for i := range tags {
				tags[i] = mapping.Tag{Key: r.str(), Value: r.str()}
			}
			name := r.str()
			d := o.device(ident, nil, tags, []byte(name))
			ids[id] = d
		case 'S', 'U':
			d, arrival, s := ids[r.uvarint()], r.varint(), r.sample()
			if op == 'U' {
				s.Upload = uint32(r.uvarint())
			}
			if d == nil {
				return errors.New("a sample of an undeclared device")
			}
			d.q.Add(s, arrival)
		case 'R':
			d, now, window := ids[r.uvarint()], r.varint(), r.varint()
			if d == nil {
				return errors.New("a release of an undeclared device")
			}
			var closed []fleet.Event
			d.q.Release(now, window, func(s fleet.Sample) { closed = d.det.Pass(s, d.st, closed) })
			for i := range closed {
				if closed[i].Kind == fleet.Drain {
					o.noteDrain(d, &closed[i])
				}
			}
			o.last = max(o.last, now)
		default:
			return fmt.Errorf("unknown record %q", op)
		}
	}
	return r.err
}

// declare writes d's ident, tags and name to the journal once a
// generation, as the id its records use.
func (j *journal) declare(d *device) {
	if d.jgen == j.gen {
		return
	}
	j.nextID++
	d.jid, d.jgen = j.nextID, j.gen
	b := append(j.pending, 'D')
	b = binary.AppendUvarint(b, uint64(d.jid))
	b = appendStr(b, d.ident)
	b = binary.AppendUvarint(b, uint64(len(d.tags)))
	for _, t := range d.tags {
		b = appendStr(appendStr(b, t.Key), t.Value)
	}
	j.pending = appendStr(b, d.name)
}

// sample journals a sample queued for d: 'U', a sample with when flespi
// received it ('S', of older versions, has no Upload).
func (j *journal) sample(o *Output, d *device, s fleet.Sample, arrival int64) {
	j.declare(d)
	b := append(j.pending, 'U')
	b = binary.AppendUvarint(b, uint64(d.jid))
	b = binary.AppendVarint(b, arrival)
	b = binary.AppendVarint(b, s.T)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Lat))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Lon))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Mileage))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Speed))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Fuel))
	b = append(b, s.Sats, byte(s.Flags))
	j.pending = binary.AppendUvarint(b, uint64(s.Upload))
}

// release journals a release of d's queue.
func (j *journal) release(o *Output, d *device, now, window int64) {
	j.declare(d)
	b := append(j.pending, 'R')
	b = binary.AppendUvarint(b, uint64(d.jid))
	b = binary.AppendVarint(b, now)
	j.pending = binary.AppendVarint(b, window)
}

func (j *journal) pendingWrites() bool { return len(j.pending) > recordHead }

// recordHead is the length and checksum before each record: pending
// keeps room for them, so that a record is written as it is built.
const recordHead = 8

// commit appends the pending records as one record. A write that fails
// is tried again at the next commit, with what came since.
func (j *journal) commit() error {
	if len(j.pending) <= recordHead {
		return nil
	}
	body := j.pending[recordHead:]
	binary.LittleEndian.PutUint32(j.pending, uint32(len(body)))
	binary.LittleEndian.PutUint32(j.pending[4:], crc32.ChecksumIEEE(body))
	// One write of header and record: a kill leaves it whole or torn at
	// the end, never interleaved.
	if _, err := j.f.Write(j.pending); err != nil {
		_ = j.f.Truncate(j.size)
		_, _ = j.f.Seek(j.size, io.SeekStart)
		return fmt.Errorf("fleet events journal: %w", err)
	}
	j.size += int64(len(j.pending))
	j.pending = j.pending[:recordHead]
	if cap(j.pending) > 1<<20 { // a huge batch does not keep its memory
		j.pending = make([]byte, recordHead, 64<<10)
	}
	return nil
}

// due reports whether the journal should be folded into a snapshot.
func (j *journal) due() bool {
	return j.size > max(snapshotAfter, 2*j.snap) || (j.size > 12 && time.Since(j.last) > snapshotEvery)
}

// snapshot writes the state whole (atomically: a temporary file renamed)
// as the next generation and starts its empty journal. The caller holds
// o.mu, with nothing pending.
func (j *journal) snapshot(o *Output) error {
	s := snapshot{Gen: j.gen + 1, Last: o.last, Drains: o.drains}
	for _, d := range o.devices {
		s.Devices = append(s.Devices, savedDevice{Ident: d.ident, Tags: d.tags, Name: d.name, Det: d.det, Queue: d.q})
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return err
	}
	j.snap = int64(buf.Len())
	if err := atomicfile.Write(filepath.Join(j.dir, stateFile), buf.Bytes()); err != nil {
		return err
	}
	j.close()
	f, err := os.Create(filepath.Join(j.dir, journalFile))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	_, _ = w.WriteString(magic)
	_ = binary.Write(w, binary.LittleEndian, uint64(s.Gen))
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	j.f, j.gen, j.size, j.nextID, j.last = f, s.Gen, 12, 0, time.Now()
	if len(j.pending) < recordHead {
		j.pending = make([]byte, recordHead, 64<<10)
	}
	return nil
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reader reads records; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("a cut record")
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads what binary.AppendVarint wrote: a zigzag uvarint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) str() string {
	n := r.uvarint()
	if uint64(len(r.b)) < n {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) fixed(n int) []byte {
	if len(r.b) < n {
		r.fail()
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) sample() fleet.Sample {
	var s fleet.Sample
	s.T = r.varint()
	s.Lat = math.Float32frombits(binary.LittleEndian.Uint32(r.fixed(4)))
	s.Lon = math.Float32frombits(binary.LittleEndian.Uint32(r.fixed(4)))
	s.Mileage = math.Float64frombits(binary.LittleEndian.Uint64(r.fixed(8)))
	s.Speed = math.Float32frombits(binary.LittleEndian.Uint32(r.fixed(4)))
	s.Fuel = math.Float32frombits(binary.LittleEndian.Uint32(r.fixed(4)))
	f := r.fixed(2)
	s.Sats, s.Flags = f[0], fleet.Flags(f[1])
	return s
}
