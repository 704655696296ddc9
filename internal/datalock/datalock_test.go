package datalock

import (
	"errors"
	"testing"
)

// TestOneHolder: a second Take of a held directory fails with ErrHeld and
// names the holder; after the release it succeeds.
func TestOneHolder(t *testing.T) {
	dir := t.TempDir()
	release, err := Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Take(dir); !errors.Is(err, ErrHeld) {
		t.Fatalf("a second Take: %v, want ErrHeld", err)
	}
	release()
	again, err := Take(dir)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	again()
}
