package appendfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogRotates: past its bound the log moves aside, keep files of it
// kept, the oldest removed: the disk holds at most (keep+1) bounds.
func TestLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead-letters.jsonl")
	l, err := Open(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes: two fit
	for range 10 {
		if err := l.Append(line); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]int{"": 80, ".1": 80, ".2": 80} {
		st, err := os.Stat(path + name)
		if err != nil || st.Size() != int64(want) {
			t.Errorf("%s: %v bytes, %v; want %d", path+name, st, err, want)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third old file is kept: %v", err)
	}
}
