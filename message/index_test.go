package message

import (
	"fmt"
	"strings"
	"testing"
)

func TestIndexFollowsKeys(t *testing.T) {
	body := []byte(`[
		{"ident":"a","position.speed":10,"device.name":"Truck"},
		{"ident":"b","position.speed":20,"device.name":"Van"},
		{"device.name":"Bus","ident":"c"},
		{"device.name":"Car","ident":"d","position.speed":30,"position.speed":40}
	]`)
	x := NewIndex("position.speed", "device.name", "absent")
	var got []string
	err := NewDecoder().Decode(body, func(m *Message) error {
		x.Read(m)
		speed, name := "-", "-"
		if p := x.Get(m, 0); p != nil {
			speed = string(p.Raw)
		}
		if p := x.Get(m, 1); p != nil {
			name = string(p.Raw)
		}
		if x.Get(m, 2) != nil {
			t.Error("a name the message lacks was found")
		}
		got = append(got, speed+" "+name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10 Truck", "20 Van", "- Bus", "40 Car"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// TestIndexPastInt16: a name at a position an int16 does not hold (a
// hostile message of 70,000 parameters) is not found, rather than found
// at a wrong position.
func TestIndexPastInt16(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"ident":"a"`)
	for i := range 70_000 {
		fmt.Fprintf(&b, `,"p%d":%d`, i, i)
	}
	b.WriteString(`,"position.speed":7}`)
	x := NewIndex("position.speed", "p5")
	err := NewDecoder().Decode([]byte(b.String()), func(m *Message) error {
		x.Read(m)
		if p := x.Get(m, 0); p != nil {
			t.Errorf("position.speed found at %q=%s", p.Name, p.Raw)
		}
		if p := x.Get(m, 1); p == nil || string(p.Raw) != "5" {
			t.Errorf("p5: %+v", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
