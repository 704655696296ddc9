//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
	"github.com/flespi-exporter/flespi-exporter/internal/testinflux"
	"github.com/flespi-exporter/flespi-exporter/internal/workload"
)

// importCmd is `flespi-exporter import` run as a process against db, with
// config.toml but for override ("key = value").
func importCmd(t *testing.T, db *testinflux.Server, override string, args ...string) *exec.Cmd {
	t.Helper()
	base, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := testexporter.WithOverride(t, string(base), override)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testexporter.Binary(t), append([]string{"import", "-config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), "INFLUXDB_URL="+db.URL, "INFLUXDB_BUCKET="+testinflux.Bucket, "INFLUXDB_TOKEN="+testinflux.Token)
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
	cmd := importCmd(t, db, "", paths...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	want := "imported 3000 messages (0 done by an earlier run): 3000 points written, 0 messages skipped (no ident or time), 0 values skipped, 0 points dead-lettered\n"
	if stdout.String() != want {
		t.Errorf("summary %q, want %q", stdout.String(), want)
	}
	if n := countAll(t, db); n != 3000 {
		t.Errorf("%d points in InfluxDB, want 3000", n)
	}
	checkWorkload(t, db, w)
	// Imported already: a second run says so and writes nothing.
	cmd = importCmd(t, db, "", paths[0])
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
	cmd := importCmd(t, db, "batch_size = 1000", file)
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
	if err := cmd.Wait(); err == nil {
		t.Fatalf("the interrupted import exited 0:\n%s", first.String())
	}
	raw, _ := os.ReadFile(file + ".import-state")
	json.Unmarshal(raw, &state)
	if state.Complete || state.Done == 0 || state.Done >= 40_000 {
		t.Fatalf("state after the interruption: %+v\n%s", state, first.String())
	}
	if !strings.Contains(first.String(), "stopped after message") {
		t.Errorf("the interrupted run does not say where it stopped:\n%s", first.String())
	}

	cmd = importCmd(t, db, "batch_size = 1000", file)
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
	out, err := importCmd(t, db, "", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.json: invalid JSON at line 1") {
		t.Errorf("invalid file: %v\n%s", err, out)
	}
	if n := countAll(t, db); n != 0 {
		t.Errorf("%d points written from an invalid file", n)
	}
}
