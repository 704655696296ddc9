package backfill

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
	got, bad, err := dumpMessages([]byte(file))
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	want := `{"ident":"x","timestamp":1,"a":1,"b":2}` + "\n" + `{"ident":"y","timestamp":2,"a":3}` + "\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// JSON lines of messages stay as they are.
	lines := `{"ident":"x","timestamp":1}` + "\n" + `{"ident":"y","timestamp":2}`
	if got, _, _ := dumpMessages([]byte(lines)); string(got) != lines {
		t.Errorf("JSON lines changed: %q", got)
	}
	if got, _, _ := dumpMessages([]byte(`{"result":[{"ident":"x"}]}`)); !strings.Contains(string(got), `"ident":"x"`) || strings.HasPrefix(string(got), "{") {
		t.Errorf("REST answer: %q", got)
	}
}

// TestDeadLetterDumpUnreadableLines: lines of a dead-letter file that are
// not entries (a half line a full disk left, before the fix that cuts it
// back) are named, not skipped without a word; the others import.
func TestDeadLetterDumpUnreadableLines(t *testing.T) {
	file := `{"time":"2026-01-01T00:00:00Z","error":"e","field":"","line":"flespi,ident=x a=1 1","message":{"ident":"x","timestamp":1,"a":1}}
{"time":"2026-01-01T00:00:01Z","error":"e","fie{"time":"2026-01-01T00:00:02Z","error":"e","field":"","line":"flespi,ident=y a=1 2","message":{"ident":"y","timestamp":2,"a":1}}
{"time":"2026-01-01T00:00:03Z","error":"e","field":"","line":"flespi,ident=z a=1 3","message":{"ident":"z","timestamp":3,"a":1}}
`
	got, bad, err := dumpMessages([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0] != 2 {
		t.Errorf("unreadable lines %v, want [2]", bad)
	}
	if !strings.Contains(string(got), `"ident":"z"`) || strings.Contains(string(got), `"ident":"y"`) {
		t.Errorf("messages %s", got)
	}
	if lineList([]int{3, 17, 40}) != "3, 17, 40" || !strings.HasSuffix(lineList(make([]int, 12)), " and 2 more") {
		t.Errorf("lineList: %q", lineList([]int{3, 17, 40}))
	}
}
