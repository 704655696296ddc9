//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
)

// field returns the value of one field of the point of ident at time ns.
func field(t *testing.T, db *testinflux.Server, name, ident string, ns int64) any {
	t.Helper()
	series := db.Query(`SELECT "` + name + `" FROM flespi WHERE ident = '` + ident + `' AND time = ` + strconv.FormatInt(ns, 10))
	if len(series) == 0 || len(series[0].Values) != 1 {
		t.Fatalf("no point of %s at %d with field %s: %+v", ident, ns, name, series)
	}
	return series[0].Values[0][1]
}

// TestStoreSamples posts the real flespi samples and reads them back from
// InfluxDB: typed values and exact microsecond timestamps.
func TestStoreSamples(t *testing.T) {
	db := testinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, nil)
	code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	if code != http.StatusOK {
		t.Fatalf("POST samples: %d %s", code, answer)
	}
	if want := "stored: 8 messages, 0 skipped messages; influxdb: 8 points, 0 dead-lettered"; answer != want {
		t.Errorf("answer %q, want %q", answer, want)
	}
	checks := []struct {
		field, ident string
		ns           int64
		want         string
	}{
		{"position.speed", "352093081234567", 1717171200250000000, "63"},
		{"can.fuel.level", "352093081234567", 1717171200250000000, "71"},
		{"gsm.mcc", "352093081234567", 1717171200250000000, "262"},
		{"engine.ignition.status", "352093081234567", 1717171200250000000, "true"},
		{"ble.sensor.temperature.1", "352093081234567", 1717171200250000000, "-18.2"},
		{"battery.voltage", "015136001986400", 1706905170172580000, "4.09"},
		{"gisgraphy.address.city", "4764252939", 1729132792000000000, "Becerril"},
		{"server.timestamp", "4764252939", 1729132792000000000, "1729132792.719063"},
		{"position.direction", "605630", 1506695785000000000, "262.643854"},
	}
	for _, c := range checks {
		if got := jsonText(field(t, db, c.field, c.ident, c.ns)); got != c.want {
			t.Errorf("%s of %s = %s, want %s", c.field, c.ident, got, c.want)
		}
	}
	// The same batch again (flespi resends when our 200 is lost) changes
	// nothing, except for the first sample: it has no timestamp at all, so
	// each copy is stamped with its arrival time and is a point of its own.
	before := countAll(t, db)
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != http.StatusOK {
		t.Fatalf("resend: %d %s", code, answer)
	}
	if after := countAll(t, db); before != 8 || after != 9 {
		t.Errorf("points: %d after the first post, %d after the resend; want 8 and 9", before, after)
	}
	if got := ex.MetricValue(t, "flespi_exporter_points_written_total"); got != 16 {
		t.Errorf("points_written_total = %v, want 16", got)
	}
}

// countAll counts the points of measurement flespi (every point of the
// default rules has an ident tag; count any field of all).
func countAll(t *testing.T, db *testinflux.Server) int {
	t.Helper()
	series := db.Query(`SELECT COUNT(*) FROM flespi GROUP BY ident`)
	total := 0
	for _, s := range series {
		// The largest count over the fields is the number of points of that ident.
		most := int64(0)
		for _, v := range s.Values[0][1:] {
			if num, ok := v.(json.Number); ok {
				if n, err := num.Int64(); err == nil && n > most {
					most = n
				}
			}
		}
		total += int(most)
	}
	return total
}

func jsonText(v any) string {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestInfluxDown answers 503 while InfluxDB is down, and stores the batch
// once it is back.
func TestInfluxDown(t *testing.T) {
	db := testinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, nil)
	db.Stop()
	resp, err := http.Post(ex.URL+"/flespi", "application/json", bytes.NewReader(testexporter.Samples(t)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(answer), "the batch was not acknowledged and will come again") {
		t.Errorf("InfluxDB down: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), answer)
	}
	if r, _ := http.Get(ex.InternalURL + "/-/ready"); r == nil || r.StatusCode != 503 {
		t.Errorf("/-/ready with InfluxDB down: %v", r)
	}
	db.Restart()
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != 200 {
		t.Fatalf("InfluxDB back: %d %s", code, answer)
	}
	if n := countAll(t, db); n != 8 {
		t.Errorf("%d points stored, want 8", n)
	}
	if r, _ := http.Get(ex.InternalURL + "/-/ready"); r == nil || r.StatusCode != 200 {
		t.Errorf("/-/ready with InfluxDB up: %v", r)
	}
	if got := ex.MetricValue(t, "flespi_exporter_write_errors_total", "kind", "transient"); got < 1 {
		t.Errorf("write_errors_total{kind=transient} = %v", got)
	}
}

// TestDeadLetters: a value InfluxDB refuses for good (a field type
// conflict with data written before) goes to the dead-letter file with its
// message; the rest of its point and of the batch is stored and the batch
// acknowledged; the same batch again adds no dead letter.
func TestDeadLetters(t *testing.T) {
	db, ex, deadFile := conflictingInflux(t)
	code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	if code != 200 || answer != "stored: 8 messages, 0 skipped messages; influxdb: 8 points, 1 dead-lettered" {
		t.Fatalf("got %d %q", code, answer)
	}
	data, err := os.ReadFile(deadFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("dead-letter file has %d lines, want 1:\n%s", len(lines), data)
	}
	var entry struct {
		Time, Error, Field, Line string
		Message                  map[string]any
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Message["ident"] != "352093081234567" || entry.Message["can.engine.rpm"] != 1650.0 || !strings.Contains(entry.Error, "field type conflict") ||
		entry.Field != "gsm.mcc=262i" || !strings.Contains(entry.Line, "gsm.mcc=262i") {
		t.Errorf("dead letter: %+v", entry)
	}
	// Every point is stored; truck-07's without gsm.mcc.
	if got := jsonText(field(t, db, "position.speed", "352093081234567", 1717171200250000000)); got != "63" {
		t.Errorf("the rest of the refused point: position.speed = %s, want 63", got)
	}
	if got := ex.MetricValue(t, "flespi_exporter_dead_letters_total"); got != 1 {
		t.Errorf("dead_letters_total = %v, want 1", got)
	}
	if got := ex.MetricValue(t, "flespi_exporter_field_type_conflicts_total", "field", "gsm.mcc", "measurement", "flespi"); got != 1 {
		t.Errorf("field_type_conflicts_total{field=gsm.mcc} = %v, want 1", got)
	}
	if status := testexporter.Get(t, ex.InternalURL+"/api/status"); !strings.Contains(status, `"held_type": "string"`) || !strings.Contains(status, `field = \"gsm.mcc_integer\"`) {
		t.Errorf("the status page does not list the conflict with its fix:\n%s", status)
	}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != 200 || !strings.HasSuffix(answer, "influxdb: 8 points, 0 dead-lettered") {
		t.Errorf("the same batch again: %d %q", code, answer)
	}
	if again, _ := os.ReadFile(deadFile); len(again) != len(data) {
		t.Errorf("the resend added dead letters:\n%s", again)
	}
}

// TestRefusedBatchAnsweredInTime: 100,000 points of one batch whose field
// InfluxDB refuses are answered 200 well within the write timeout (they
// took 82 – 86 s, past it, when each refused point was split out), and a
// second send adds no dead letter.
func TestRefusedBatchAnsweredInTime(t *testing.T) {
	_, ex, deadFile := conflictingInflux(t)
	var body bytes.Buffer
	body.WriteString("[")
	for i := range 100_000 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"ident":"d%d","timestamp":%d,"gsm.mcc":262,"position.speed":%d}`, i%1000, 1717171200+i/1000, i%90)
	}
	body.WriteString("]")
	for send := 1; send <= 2; send++ {
		start := time.Now()
		code, answer := testexporter.Post(t, ex.URL+"/flespi", body.Bytes(), nil)
		took := time.Since(start)
		t.Logf("send %d: %d %q in %v", send, code, answer, took)
		want := "stored: 100000 messages, 0 skipped messages; influxdb: 100000 points, 100000 dead-lettered"
		if send == 2 {
			want = "stored: 100000 messages, 0 skipped messages; influxdb: 100000 points, 0 dead-lettered"
		}
		if code != 200 || answer != want {
			t.Errorf("send %d: %d %q", send, code, answer)
		}
		if took > 20*time.Second {
			t.Errorf("send %d took %v; the write timeout is 55 s", send, took)
		}
	}
	data, _ := os.ReadFile(deadFile)
	if n := bytes.Count(data, []byte("\n")); n != 100_000 {
		t.Errorf("%d dead letters, want 100000", n)
	}
}

// conflictingInflux starts InfluxDB and an exporter with a dead-letter
// file; gsm.mcc, an integer field for the exporter, is a string in
// InfluxDB, in the week (shard) of the truck-07 sample.
func conflictingInflux(t *testing.T) (*testinflux.Server, *testexporter.InProcess, string) {
	t.Helper()
	db := testinflux.Start(t)
	deadFile := filepath.Join(t.TempDir(), "dead.jsonl")
	ex := testexporter.StartWith(t, db.URL, map[string]string{"FLESPI_EXPORTER_DEAD_LETTER_FILE": deadFile}, nil)
	writeLine(t, db, `flespi,ident=old gsm.mcc="257" 1717171000000000000`)
	return db, ex, deadFile
}

func writeLine(t *testing.T, db *testinflux.Server, line string) {
	t.Helper()
	resp, err := http.Post(db.URL+"/write?db="+testinflux.Database, "text/plain", strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("write %q: %s", line, resp.Status)
	}
}

// TestRuleTypeChange: a rule's type changes between two batches (and a
// reload): both batches are acknowledged, every other field of the second
// is stored, and only the values of the changed field are dead-lettered.
func TestRuleTypeChange(t *testing.T) {
	db := testinflux.Start(t)
	base, err := os.ReadFile(testexporter.ConfigFile())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config.toml")
	rule := func(typ string) {
		extra := "\n[[rule]]\nmatch = \"custom.code\"\ntype = \"" + typ + "\"\nprometheus = false\n"
		if err := os.WriteFile(file, append(append([]byte{}, base...), extra...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rule("integer")
	dataDir := t.TempDir()
	cfg := testexporter.Parse(t, testexporter.Options{InfluxURL: db.URL, Env: map[string]string{"FLESPI_EXPORTER_DATA_DIR": dataDir}})
	loaded, err := config.Load(file) // the file, so that a reload reads it again
	if err != nil {
		t.Fatal(err)
	}
	loaded.InfluxDB, loaded.Data, loaded.HTTP.Listen = cfg.InfluxDB, cfg.Data, cfg.HTTP.Listen
	ex := testexporter.Run(t, loaded, nil)
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171200,"custom.code":7,"position.speed":10}]`), nil); code != 200 {
		t.Fatalf("first batch: %d %s", code, answer)
	}
	rule("string")
	// The reload's answer says what it logs: the rule InfluxDB's field
	// type conflicts with.
	if code, answer := testexporter.Post(t, ex.InternalURL+"/-/reload", nil, nil); code != 200 || !strings.Contains(answer, "warnings (") ||
		!strings.Contains(answer, "custom.code") {
		t.Fatalf("reload: %d %s", code, answer)
	}
	code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171201,"custom.code":"7B","position.speed":20,"battery.voltage":4.1}]`), nil)
	if code != 200 || answer != "stored: 1 messages, 0 skipped messages; influxdb: 1 points, 1 dead-lettered" {
		t.Fatalf("second batch: %d %q", code, answer)
	}
	if got := jsonText(field(t, db, "position.speed", "a", 1717171201000000000)); got != "20" {
		t.Errorf("position.speed of the second batch: %s", got)
	}
	if got := jsonText(field(t, db, "battery.voltage", "a", 1717171201000000000)); got != "4.1" {
		t.Errorf("battery.voltage of the second batch: %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(dataDir, "dead-letters.jsonl"))
	if !strings.Contains(string(data), `"field":"custom.code=\"7B\""`) || strings.Count(string(data), "\n") != 1 {
		t.Errorf("dead letters:\n%s", data)
	}
	if !strings.Contains(testexporter.Get(t, ex.InternalURL+"/api/status"), `"field": "custom.code"`) {
		t.Error("the status page does not list the conflict")
	}
	// Fixed (the type set back) and reloaded: the conflict leaves the page.
	rule("integer")
	if code, answer := testexporter.Post(t, ex.InternalURL+"/-/reload", nil, nil); code != 200 || strings.Contains(answer, "custom.code") {
		t.Fatalf("reload after the fix: %d %s", code, answer)
	}
	if strings.Contains(testexporter.Get(t, ex.InternalURL+"/api/status"), `"field": "custom.code"`) {
		t.Error("a fixed conflict is still on the status page after the reload")
	}
}
