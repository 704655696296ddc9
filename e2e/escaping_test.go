//go:build e2e

package e2e

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
)

// TestBackslashesInNames: idents, tags and field names with backslashes
// reach the real InfluxDB: every line is accepted, a backslash before
// ',', '=' or ' ' in a tag is stored as sent, and a name ending in a
// backslash (which no encoding can write) stays apart from the name
// without it, its last backslash stored as U+FF3C.
func TestBackslashesInNames(t *testing.T) {
	db := testinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, func(c *config.Loaded) { c.Config.Mapping.Unmatched = mapping.UnmatchedRaw })
	idents := []string{`\`, `tr\`, `tr`, `a\ b`, `a\,b`, `a\=b`, `c\d`}
	var msgs []map[string]any
	for i, id := range idents {
		msgs = append(msgs, map[string]any{"ident": id, "timestamp": 1717171200 + i, "position.speed": i, `x\ y`: 1, `z\`: 2})
	}
	body, _ := json.Marshal(msgs)
	code, answer := testexporter.Post(t, ex.URL+"/flespi", body, nil)
	if code != 200 || answer != "stored: 7 messages, 0 skipped messages; influxdb: 7 points, 0 dead-lettered" {
		t.Fatalf("%d %s", code, answer)
	}
	var stored []string
	for _, s := range db.Query(`SHOW TAG VALUES FROM flespi WITH KEY = ident`) {
		for _, v := range s.Values {
			stored = append(stored, v[1].(string))
		}
	}
	slices.Sort(stored)
	want := []string{`a\ b`, `a\,b`, `a\=b`, `c\d`, "tr", "tr\uff3c", "\uff3c"}
	if !slices.Equal(stored, want) {
		t.Errorf("idents stored %q, want %q", stored, want)
	}
	var fields []string
	for _, s := range db.Query(`SHOW FIELD KEYS FROM flespi`) {
		for _, v := range s.Values {
			fields = append(fields, v[0].(string))
		}
	}
	if !slices.Contains(fields, `x\\ y`) || !slices.Contains(fields, "z\uff3c") {
		t.Errorf("field keys %q lack x\\\\ y and z＼", fields)
	}
}
