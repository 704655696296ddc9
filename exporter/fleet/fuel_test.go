package fleet

import (
	"slices"
	"testing"
)

// TestSortFew: the fuel detector's small sort orders what slices.Sort
// does.
func TestSortFew(t *testing.T) {
	for _, in := range [][]float32{{}, {3}, {5, 1, 4, 1, 2}, {1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, {2, 2, 1, 2}} {
		got, want := slices.Clone(in), slices.Clone(in)
		sortFew(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("sortFew(%v) = %v, want %v", in, got, want)
		}
	}
}
