package bytesview

import "testing"

func TestString(t *testing.T) {
	b := []byte("ident")
	s := String(b)
	if s != "ident" {
		t.Fatalf("String = %q", s)
	}
	// The view shares the bytes: this is why it must not outlive them.
	b[0] = 'I'
	if s != "Ident" {
		t.Errorf("after a write to the slice the view reads %q; it is not a view", s)
	}
	if String(nil) != "" {
		t.Error("String(nil) is not empty")
	}
}

func TestSame(t *testing.T) {
	a := "position.speed"
	b := string([]byte(a)) // equal bytes, other memory
	if !Same(a, a) || Same(a, b) || Same(a, a[:3]) {
		t.Errorf("Same(a, a)=%v Same(a, copy)=%v Same(a, prefix)=%v", Same(a, a), Same(a, b), Same(a, a[:3]))
	}
}
