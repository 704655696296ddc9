package escape

import "testing"

// TestAppend: the bytes the table names are escaped with their letter,
// the rest copied as they are.
func TestAppend(t *testing.T) {
	table := Table{'"': '"', '\\': '\\', '\n': 'n'}
	if got := string(Append([]byte("x="), "a \"b\"\\c\nd", &table)); got != `x=a \"b\"\\c\nd` {
		t.Errorf("%q", got)
	}
}
