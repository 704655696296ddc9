package events

import (
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
)

// TestSnapshotScalesWithTheFleet: the journal is folded into a snapshot
// past 32 MB, or past twice the last snapshot where that is larger: a
// fleet whose snapshot is 100 MB is not written whole every 32 MB of
// journal.
func TestSnapshotScalesWithTheFleet(t *testing.T) {
	for _, c := range []struct {
		snap, size int64
		due        bool
	}{
		{1 << 20, 20 << 20, false},
		{1 << 20, 40 << 20, true},
		{100 << 20, 40 << 20, false},
		{100 << 20, 201 << 20, true},
	} {
		j := &journal{snap: c.snap, size: c.size}
		j.last = j.last.AddDate(3000, 0, 0) // not due by time
		if got := j.due(); got != c.due {
			t.Errorf("snapshot %d MB, journal %d MB: due %v, want %v", c.snap>>20, c.size>>20, got, c.due)
		}
	}
}

// TestJournalOfTheVersionBefore: a journal an older version wrote (magic
// FEJ2, samples without their upload time) is replayed after an upgrade:
// its sample is held as it was, by its arrival.
func TestJournalOfTheVersionBefore(t *testing.T) {
	dir := t.TempDir()
	opt := Options{Config: config.Default().Events, Dir: dir, Namespace: "flespi", Reg: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)}
	if _, err := New(opt); err != nil { // the snapshot of generation 1, an empty journal
		t.Fatal(err)
	}
	// The older version's records: a device, and a sample that arrived
	// at 1,000 s of a message of device time 990 s.
	rec := []byte{'D'}
	rec = binary.AppendUvarint(rec, 1)
	rec = appendStr(rec, "352093081234567")
	rec = binary.AppendUvarint(rec, 1)
	rec = appendStr(appendStr(rec, "ident"), "352093081234567")
	rec = appendStr(rec, "Truck 7")
	rec = append(rec, 'S')
	rec = binary.AppendUvarint(rec, 1)
	rec = binary.AppendVarint(rec, 1_000_000)
	rec = binary.AppendVarint(rec, 990_000)
	rec = append(rec, make([]byte, 4+4+8+4+4)...)
	rec = append(rec, fleet.NoSats, 0)
	file := append([]byte(olderMagic), binary.LittleEndian.AppendUint64(nil, 1)...)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(rec)))
	file = binary.LittleEndian.AppendUint32(file, crc32.ChecksumIEEE(rec))
	file = append(file, rec...)
	if err := os.WriteFile(filepath.Join(dir, journalFile), file, 0o644); err != nil {
		t.Fatal(err)
	}
	opt.Reg = prometheus.NewRegistry()
	o, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	d := o.devices["352093081234567"]
	if d == nil || len(d.q.Held) != 1 {
		t.Fatalf("the older journal's device and sample were not restored: %+v", d)
	}
	if s := d.q.Held[0]; s.T != 990_000 || s.Arrival != 1000 || s.Upload != 1000 || d.name != "Truck 7" {
		t.Errorf("restored %+v, name %q", s, d.name)
	}
}
