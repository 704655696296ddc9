package influx

import "testing"

func TestParseConflict(t *testing.T) {
	for _, msg := range []string{
		`partial write: field type conflict: input field "gsm.mcc" on measurement "flespi" is type integer, already exists as type string dropped=3`,
		`failure writing points to database: partial write: field type conflict: input field "gsm.mcc" on measurement "flespi" is type integer, already exists as type string dropped=3`,
	} {
		cf, dropped, ok := parseConflict(msg)
		if !ok || cf != (conflict{measurement: "flespi", field: "gsm.mcc", sent: "integer", held: "string"}) || dropped != 3 {
			t.Errorf("%s: %+v %d %v", msg, cf, dropped, ok)
		}
	}
	if _, _, ok := parseConflict("unable to parse 'x': invalid field format"); ok {
		t.Error("a parse error read as a conflict")
	}
}

// TestParseLine reads lines as the encoder writes them, escapes included,
// and takes a field out of each position.
func TestParseLine(t *testing.T) {
	line := []byte(`my\ m,ident=a\,b x\ y=1i,s="q\"u,o te",b=true,f=1.5 1717171200000000000` + "\n")
	m, fields, ok := parseLine(line)
	if !ok || m != "my m" || len(fields) != 4 {
		t.Fatalf("%q %+v %v", m, fields, ok)
	}
	want := []struct{ key, typ string }{{"x y", "integer"}, {"s", "string"}, {"b", "boolean"}, {"f", "float"}}
	for i, w := range want {
		if fields[i].key != w.key || fields[i].typ != w.typ {
			t.Errorf("field %d: %+v, want %v", i, fields[i], w)
		}
	}
	for i, rest := range []string{
		`my\ m,ident=a\,b s="q\"u,o te",b=true,f=1.5 1717171200000000000`,
		`my\ m,ident=a\,b x\ y=1i,b=true,f=1.5 1717171200000000000`,
		`my\ m,ident=a\,b x\ y=1i,s="q\"u,o te",f=1.5 1717171200000000000`,
		`my\ m,ident=a\,b x\ y=1i,s="q\"u,o te",b=true 1717171200000000000`,
	} {
		got, ok := withoutField(line, fields, i)
		if !ok || string(got) != rest+"\n" {
			t.Errorf("without field %d: %q", i, got)
		}
	}
}
