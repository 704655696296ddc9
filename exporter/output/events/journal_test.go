package events

import "testing"

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
