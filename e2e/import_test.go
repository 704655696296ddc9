//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// importCmd is `flespi-exporter import` run as a process against db, with
// config.toml but for influxdb.batch_size (0: as shipped).
func importCmd(t *testing.T, db *testinflux.Server, batchSize int, args ...string) *exec.Cmd {
	t.Helper()
	base, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(base)
	if batchSize > 0 {
		text = testexporter.SetKey(t, text, "influxdb.batch_size", strconv.Itoa(batchSize))
	}
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testexporter.Binary(t), append([]string{"import", "-config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), "INFLUXDB_URL="+db.URL, "INFLUXDB_BUCKET="+testinflux.Bucket, "INFLUXDB_TOKEN="+testinflux.Token,
		"FLESPI_EXPORTER_DATA_DIR="+t.TempDir())
	return cmd
}

// TestImportFormats backfills the three dump formats: a JSON array, JSON
// lines, and flespi's REST answer {"result": [...]}.
func TestImportFormats(t *testing.T) {
	db := testinflux.Start(t)
	dir := t.TempDir()
	w := workload.Generate(3000, 30, 3000, 3)
	var msgs []json.RawMessage
	if err := json.Unmarshal(w.Batches[0], &msgs); err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	for _, m := range msgs[1000:2000] {
		lines.Write(m)
		lines.WriteByte('\n')
	}
	api, _ := json.Marshal(map[string]any{"result": msgs[2000:]})
	arr, _ := json.Marshal(msgs[:1000])
	files := map[string][]byte{"array.json": arr, "lines.jsonl": lines.Bytes(), "api.json": api}
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cmd := importCmd(t, db, 0, paths...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	// Each store's line (the fleet events', for what the history closed:
	// the workload's random speeds make a few overspeeds), then the
	// workload's one unmapped parameter a message.
	for _, want := range []string{
		"imported 3000 messages (0 done by an earlier run): 0 messages skipped (no ident or time), 0 values skipped\n",
		"\ninfluxdb: 3000 points written, 0 dead-lettered\n",
		"\n3000 values of parameters no rule maps were left out",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary %q, want %q in it", stdout.String(), want)
		}
	}
	if n := countAll(t, db); n != 3000 {
		t.Errorf("%d points in InfluxDB, want 3000", n)
	}
	checkWorkload(t, db, w)
	// Imported already: a second run says so and writes nothing.
	cmd = importCmd(t, db, 0, paths[0])
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imported already (1000 messages); -restart imports it again") {
		t.Errorf("second import: %v\n%s", err, out)
	}
}

// TestImportResumes interrupts an import and runs it again: it continues
// after the last chunk stored, and at the end every message is in
// InfluxDB once.
func TestImportResumes(t *testing.T) {
	db := testinflux.Start(t)
	w := workload.Generate(40_000, 200, 40_000, 4)
	file := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(file, w.Batches[0], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := importCmd(t, db, 1000, file)
	var first bytes.Buffer
	cmd.Stdout, cmd.Stderr = &first, &first
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The state file, as the import command writes it.
	var state struct {
		Done     int  `json:"done"`
		Complete bool `json:"complete"`
	}
	deadline := time.Now().Add(time.Minute)
	for state.Done == 0 {
		if raw, err := os.ReadFile(file + ".import-state"); err == nil {
			json.Unmarshal(raw, &state)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress recorded in a minute:\n%s", first.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT) // as Ctrl-C
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("the interrupted import ended with %v, want exit status 130:\n%s", err, first.String())
	}
	raw, _ := os.ReadFile(file + ".import-state")
	json.Unmarshal(raw, &state)
	if state.Complete || state.Done == 0 || state.Done >= 40_000 {
		t.Fatalf("state after the interruption: %+v\n%s", state, first.String())
	}
	if !strings.Contains(first.String(), "stopped after message") || !strings.Contains(first.String(), "import interrupted") {
		t.Errorf("the interrupted run does not say it was interrupted and where it stopped:\n%s", first.String())
	}
	// The summary counts what the progress line and the state say is done.
	if want := fmt.Sprintf("imported %d messages (0 done by an earlier run)", state.Done); !strings.Contains(first.String(), want) {
		t.Errorf("the summary does not agree with the state (%d done):\n%s", state.Done, first.String())
	}

	cmd = importCmd(t, db, 1000, file)
	var second, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &second, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed import: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "resuming after message") ||
		!strings.HasPrefix(second.String(), "imported 40000 messages (") {
		t.Errorf("resumed run:\n%s%s", errOut.String(), second.String())
	}
	if n := countAll(t, db); n != 40_000 {
		t.Errorf("%d points in InfluxDB, want 40000", n)
	}
}

// TestImportRejectsInvalidFile exits non-zero on a file that is not JSON
// messages, and writes nothing of it.
func TestImportRejectsInvalidFile(t *testing.T) {
	db := testinflux.Start(t)
	file := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(file, []byte(`[{"ident":"a","timestamp":1717171200,"position.speed":1},{"ident":`), 0o644)
	out, err := importCmd(t, db, 0, file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.json: invalid JSON at line 1") {
		t.Errorf("invalid file: %v\n%s", err, out)
	}
	if n := countAll(t, db); n != 0 {
		t.Errorf("%d points written from an invalid file", n)
	}
}

// TestReplayDeadLetters: after a field type conflict the refused values
// are in the dead-letter file; once the operator fixes the cause (here the
// old data is dropped), importing the dead-letter file stores them, and
// importing it again stores nothing twice.
func TestReplayDeadLetters(t *testing.T) {
	db, ex, deadFile := conflictingInflux(t)
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != 200 || !strings.HasSuffix(answer, "influxdb: 8 points, 1 dead-lettered") {
		t.Fatalf("%d %s", code, answer)
	}
	if s := db.Query(`SELECT "gsm.mcc" FROM flespi WHERE ident = '352093081234567'`); len(s) != 0 {
		t.Fatalf("the refused value is stored: %+v", s)
	}
	db.Query(`DROP SERIES FROM flespi WHERE ident = 'old'`) // the fix: the old string values go
	db.Query(`DROP MEASUREMENT flespi`)                     // and with them the field's type
	before := countAll(t, db)
	for run := 1; run <= 2; run++ {
		out, err := importCmd(t, db, 0, deadFile).CombinedOutput()
		if err != nil {
			t.Fatalf("replay %d: %v\n%s", run, err, out)
		}
		if got := jsonText(field(t, db, "gsm.mcc", "352093081234567", 1717171200250000000)); got != "262" {
			t.Errorf("replay %d: gsm.mcc = %s, want 262", run, got)
		}
		if !strings.Contains(string(out), "every message of these dead letters is stored now") {
			t.Errorf("replay %d does not say what to do with the file now:\n%s", run, out)
		}
		if n := countAll(t, db); n != before+1 {
			t.Errorf("replay %d: %d points, want %d (the replayed message's point once)", run, n, before+1)
		}
		// A second run of the same import resumes after the messages
		// already done: start it from the beginning, as a replay does.
		os.Remove(deadFile + ".import-state")
	}
}

// TestImportStateFile: -state keeps the progress elsewhere than next to
// the dump (a read-only folder of dumps), and a second run finds it there.
func TestImportStateFile(t *testing.T) {
	db := testinflux.Start(t)
	dump := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(dump, testexporter.Samples(t), 0o444); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "progress.json")
	for run := 1; run <= 2; run++ {
		out, err := importCmd(t, db, 0, "-state", state, dump).CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		if run == 2 && !strings.Contains(string(out), "imported already") {
			t.Errorf("the second run did not find the progress in %s:\n%s", state, out)
		}
	}
	if _, err := os.Stat(dump + ".import-state"); err == nil {
		t.Error("a state file was written next to the dump")
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("no state at -state: %v", err)
	}
}

// TestCheckInflux: check -influx names the rule, with its file:line, that
// would write a field with another type than the real InfluxDB holds.
func TestCheckInflux(t *testing.T) {
	db := testinflux.Start(t)
	writeLine(t, db, `flespi,ident=old gsm.mcc="257" 1717171000000000000`)
	cmd := exec.Command(testexporter.Binary(t), "check", "-influx", "-config", testexporter.ConfigFile())
	cmd.Env = append(os.Environ(), "INFLUXDB_URL="+db.URL, "INFLUXDB_BUCKET="+testinflux.Bucket, "INFLUXDB_TOKEN="+testinflux.Token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := regexp.MustCompile(`config\.toml:\d+: \[\[rule\]\] #\d+ type: writes gsm\.mcc of measurement "flespi" as integer, but InfluxDB holds it as string`)
	if !want.Match(out) || !strings.Contains(string(out), "1 conflict(s)") {
		t.Errorf("check -influx:\n%s", out)
	}
}

// TestImportWrongDatabase: an import into a database InfluxDB does not
// have stops at its first chunk, at once, with the setting to fix (it
// retried the 404 for 16 s, then advised running it again).
func TestImportWrongDatabase(t *testing.T) {
	db := testinflux.Start(t)
	dump := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(dump, testexporter.Samples(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := importCmd(t, db, 0, dump)
	cmd.Env = append(cmd.Env, "INFLUXDB_BUCKET=nodb/autogen")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "check INFLUXDB_BUCKET") {
		t.Errorf("import into a missing database: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("it took %v to give up on a missing database", d)
	}
}
