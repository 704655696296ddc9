package importer

import (
	"strings"
	"testing"
)

// TestDeadLetterDump: a dead-letter file imports as the messages of its
// entries, each once, so that replaying it after a fix re-stores them.
func TestDeadLetterDump(t *testing.T) {
	file := `{"time":"2026-01-01T00:00:00Z","error":"field type conflict","field":"a=1i","line":"flespi,ident=x a=1i,b=2 1","message":{"ident":"x","timestamp":1,"a":1,"b":2}}
{"time":"2026-01-01T00:00:00Z","error":"field type conflict","field":"b=2","line":"flespi,ident=x a=1i,b=2 1","message":{"ident":"x","timestamp":1,"a":1,"b":2}}
{"time":"2026-01-01T00:00:01Z","error":"field type conflict","field":"a=3i","line":"flespi,ident=y a=3i 2","message":{"ident":"y","timestamp":2,"a":3}}
`
	got, err := dumpMessages([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ident":"x","timestamp":1,"a":1,"b":2}` + "\n" + `{"ident":"y","timestamp":2,"a":3}` + "\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// JSON lines of messages stay as they are.
	lines := `{"ident":"x","timestamp":1}` + "\n" + `{"ident":"y","timestamp":2}`
	if got, _ := dumpMessages([]byte(lines)); string(got) != lines {
		t.Errorf("JSON lines changed: %q", got)
	}
	if got, _ := dumpMessages([]byte(`{"result":[{"ident":"x"}]}`)); !strings.Contains(string(got), `"ident":"x"`) || strings.HasPrefix(string(got), "{") {
		t.Errorf("REST answer: %q", got)
	}
}
