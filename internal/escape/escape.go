// Package escape writes text with some bytes escaped by a backslash: the
// one loop behind the wire formats' escaping (line protocol names and
// strings, the Prometheus text format's label values and help).
package escape

// Table maps a byte to the letter written after the backslash that
// escapes it; 0 means the byte is written as it is.
type Table [256]byte

// Append appends s with the bytes that t names escaped; runs of plain
// bytes are copied whole.
func Append(b []byte, s string, t *Table) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		if x := t[s[i]]; x != 0 {
			b = append(b, s[start:i]...)
			b = append(b, '\\', x)
			start = i + 1
		}
	}
	return append(b, s[start:]...)
}
