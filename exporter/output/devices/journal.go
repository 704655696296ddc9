package devices

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/flespi-exporter/flespi-exporter/internal/appendfile"
)

// A save costs what changed, not the whole fleet: between full saves of
// devices.json, the devices that changed are appended to devices.journal
// (one JSON line each, a forgotten one as {"ident":..., "forget":true}),
// and the journal is folded into a full save once it has grown to
// compactAt or the size of devices.json. With 200,000 devices a full save
// was 27.6 MB every 5 s while anything arrived.

// JournalName is the journal's file beside devices.json.
const JournalName = "devices.journal"

// compactAt is the least journal size that makes a full save.
var compactAt int64 = 8 << 20

// journalEntry is one line of the journal.
type journalEntry struct {
	fileDevice
	Forget bool `json:"forget,omitempty"`
}

// journalHeader is the journal's first line: the generation of the
// devices.json it follows. A crash between a full save (a new generation)
// and the journal's removal leaves a journal of the generation before:
// replayed over the newer file it would turn devices back, so it is left
// out.
type journalHeader struct {
	Generation int64 `json:"generation"`
}

// journalPath is where the journal of r is.
func (r *Registry) journalPath() string { return r.file[:len(r.file)-len(FileName)] + JournalName }

// replayJournal applies the journal's entries after devices.json was
// read: later ones win. A line that cannot be read (cut short by a crash,
// damaged) loses that line only; a line cut short at the end is cut off
// the file, so that the next append does not glue onto it.
func (r *Registry) replayJournal() error {
	path := r.journalPath()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if whole := bytes.LastIndexByte(raw, '\n') + 1; whole < len(raw) {
		if err := os.Truncate(path, int64(whole)); err != nil {
			return fmt.Errorf("cutting the line a crash left unfinished off %s: %w", path, err)
		}
		r.log.Warn("the device registry's journal ended in a line cut short (a crash); it is left out", "file", path, "bytes", len(raw)-whole)
		raw = raw[:whole]
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(raw) == 0 {
		return nil
	}
	var h journalHeader
	if json.Unmarshal(lines[0], &h) == nil && !bytes.Contains(lines[0], []byte(`"ident"`)) {
		lines = lines[1:]
	}
	if h.Generation != r.generation {
		r.log.Warn("the device registry's journal is older than devices.json (a crash after a full save); it is left out",
			"file", path, "journal_generation", h.Generation, "generation", r.generation)
		return r.dropJournal()
	}
	bad, applied := 0, 0
	for _, line := range lines {
		var e journalEntry
		if json.Unmarshal(line, &e) != nil || e.Ident == "" {
			bad++
			continue
		}
		applied++
		if e.Forget {
			r.remove(e.Ident)
			continue
		}
		if dev := r.fromFile(e.fileDevice); dev != nil {
			r.remove(e.Ident)
			r.devices[e.Ident] = dev
		}
	}
	if bad > 0 {
		r.log.Warn("lines of the device registry's journal could not be read and are left out; the rest is kept",
			"file", path, "left_out", bad, "applied", applied, "devices", len(r.devices))
	}
	return nil
}

// appendJournal appends the devices that changed (nil: forgotten). It
// reports false when a full save is due instead: no devices.json yet, or
// the journal as large as the point of it.
func (r *Registry) appendJournal(changed map[string]*snapshot) (bool, error) {
	base, err := os.Stat(r.file)
	if err != nil {
		return false, nil
	}
	j, err := appendfile.Open(r.journalPath(), 1<<62, 0)
	if err != nil {
		return false, err
	}
	defer j.Close()
	st, err := j.File().Stat()
	if err != nil {
		return false, err
	}
	if st.Size() >= max(compactAt, base.Size()) {
		return false, nil
	}
	var buf []byte
	if st.Size() == 0 {
		buf, _ = json.Marshal(journalHeader{Generation: r.generation})
		buf = append(buf, '\n')
	}
	for ident, s := range changed {
		e := journalEntry{fileDevice: fileDevice{Ident: ident}, Forget: s == nil}
		if s != nil {
			e.fileDevice = toFile(s)
		}
		line, err := json.Marshal(e)
		if err != nil {
			return false, err
		}
		buf = append(append(buf, line...), '\n')
	}
	if err := j.Append(buf); err != nil {
		return false, fmt.Errorf("appending to %s: %w", r.journalPath(), err)
	}
	return true, nil
}

// dropJournal removes the journal once a full save holds everything.
func (r *Registry) dropJournal() error {
	if err := os.Remove(r.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
