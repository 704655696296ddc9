// Package bytesview turns byte slices into strings without copying them.
// It is the one place of the module that converts with package unsafe, so
// that the rule below is written, and checked, once.
//
// The rule: a string made by String shares the bytes of its slice. It is
// valid only while nobody writes to those bytes, which means as long as
// the buffer it points into is neither modified nor reused (a request
// body back in its pool, a decoder's scratch space, a line-protocol chunk
// being appended to). Such a string must not be kept (in a map, a struct
// that outlives the buffer, a log record written later): keep
// strings.Clone of it instead. Go's map lookups by string(b) need no view:
// the compiler does not copy there.
package bytesview

import "unsafe"

// String returns b as a string without copying it; see the package comment
// for how long the string is valid.
func String(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Same reports whether a and b are the same string in memory (same data
// pointer and length), which is cheaper than comparing their bytes and
// enough when strings are shared rather than built anew.
func Same(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}
