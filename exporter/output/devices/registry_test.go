package devices

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func defaultMapping(t *testing.T) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Compile(mapping.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func seen(ident, name string, at, received time.Time) Seen {
	labels := []mapping.Label{{Name: "ident", Value: ident}}
	if name != "" {
		labels = append([]mapping.Label{{Name: "device_name", Value: name}}, labels...)
	}
	return Seen{Ident: ident, Labels: labels, At: at.UnixNano(), Received: received.UnixNano(), Arrival: received.UnixNano()}
}

// exposition parses what the registry serves: value by metric name and
// ident, and the device_name of each ident.
func exposition(t *testing.T, r *Registry) (values map[string]float64, names map[string]string) {
	t.Helper()
	var b strings.Builder
	if err := r.WriteText(&b, defaultMapping(t)); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	values, names = map[string]float64{}, map[string]string{}
	for family, mf := range mfs {
		for _, m := range mf.Metric {
			ident, name := "", ""
			for _, l := range m.Label {
				switch l.GetName() {
				case "ident":
					ident = l.GetValue()
				case "device_name":
					name = l.GetValue()
				}
			}
			names[ident] = name
			values[family+" "+ident] = m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return values, names
}

const (
	lastMsg  = "flespi_device_last_message_timestamp_seconds"
	lastRecv = "flespi_device_last_received_timestamp_seconds"
)

// mustOpen opens the registry in dir.
func mustOpen(t *testing.T, dir string) *Registry {
	t.Helper()
	r, err := Open(Options{Dir: dir, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestNewestWins: buffered (older) messages do not turn a device's last
// message back; arrivals always count; a rename follows the newest message.
func TestNewestWins(t *testing.T) {
	r, err := Open(Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1717171200, 250_000_000)
	r.Update([]Seen{seen("a", "truck", t0, t0.Add(time.Second))}, "http")
	r.Update([]Seen{seen("a", "old name", t0.Add(-time.Hour), t0.Add(2*time.Second))}, "http")
	r.Update([]Seen{seen("b", "", t0, t0)}, "http")
	values, names := exposition(t, r)
	if values[lastMsg+" a"] != 1717171200.25 || values[lastRecv+" a"] != 1717171202.25 || names["a"] != "truck" {
		t.Errorf("a: %v %v", values, names)
	}
	r.Update([]Seen{seen("a", "truck 2", t0.Add(time.Minute), t0.Add(time.Minute))}, "http")
	if _, names := exposition(t, r); names["a"] != "truck 2" || names["b"] != "" {
		t.Errorf("after a rename: %v", names)
	}
}

// TestSurvivesRestart: what one registry saved, the next one serves, the
// same values to the nanosecond, before any new message.
func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := mustOpen(t, dir)
	t0 := time.Unix(1717171200, 123_456_000)
	r.Update([]Seen{seen("a", `truck "7"`, t0, t0.Add(time.Second)), seen("b", "", t0.Add(-24*time.Hour), t0)}, "http")
	before, beforeNames := exposition(t, r)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, dir)
	after, afterNames := exposition(t, again)
	if len(after) != 6 || len(before) != 6 { // two devices, three gauges each
		t.Fatalf("series before %v, after %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %v before the restart, %v after", k, v, after[k])
		}
	}
	if afterNames["a"] != beforeNames["a"] {
		t.Errorf("names %v, want %v", afterNames, beforeNames)
	}
	for _, e := range func() []os.DirEntry { entries, _ := os.ReadDir(dir); return entries }() {
		if e.Name() != FileName && e.Name() != JournalName {
			t.Errorf("the data directory holds %s; want devices.json and its journal alone (no temporary files)", e.Name())
		}
	}
}

// TestForgetAfter: a device silent for forget_devices_after leaves, the
// others stay; Forget removes one on request.
func TestForgetAfter(t *testing.T) {
	clock := tb.NewClock()
	r, err := Open(Options{ForgetAfter: 90 * 24 * time.Hour, Now: clock.Now, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r.Update([]Seen{seen("old", "", clock.Now(), clock.Now())}, "http")
	clock.Add(60 * 24 * time.Hour)
	r.Update([]Seen{seen("new", "", clock.Now(), clock.Now()), seen("gone", "", clock.Now(), clock.Now())}, "http")
	clock.Add(31 * 24 * time.Hour)
	values, _ := exposition(t, r)
	if _, ok := values[lastMsg+" old"]; ok || len(values) != 6 {
		t.Errorf("after 91 days: %v", values)
	}
	if !r.Forget("gone") || r.Forget("gone") || r.Len() != 1 {
		t.Errorf("Forget: %d devices left", r.Len())
	}
}

// TestCorruptFileSetAside: a registry file that does not parse does not
// stop the exporter: it is set aside for a look, and the registry starts
// empty.
func TestCorruptFileSetAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version":1,"devices":[{"ident":`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, dir)
	if r.Len() != 0 {
		t.Errorf("%d devices from a corrupt file", r.Len())
	}
	aside, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*"))
	if len(aside) != 1 {
		t.Errorf("the corrupt file was not set aside: %v", aside)
	}
}

// TestUnusableDirectory fails at start, not at the first save.
func TestUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: file, Log: quiet}); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open on a file: %v", err)
	}
}

// TestStartCleansUp: the temporary files of saves a kill cut short are
// removed at start, and a file edited or damaged into holding a label
// name Prometheus cannot read, or an ident no message could have, loses
// those only: every scrape still parses.
func TestStartCleansUp(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{FileName + ".tmp-123", FileName + ".tmp-456"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := `{"version":1,"devices":[
		{"ident":"a","labels":{"device_name":"Van","bad name":"x"},"last_message_ns":1717171200000000000,"last_received_ns":1717171200000000000},
		{"ident":"` + strings.Repeat("x", 300) + `","last_message_ns":1,"last_received_ns":1}]}`
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, dir)
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	values, names := exposition(t, r) // fails if the exposition does not parse
	if names["a"] != "Van" || len(values) != 3 {
		t.Errorf("devices served: %v %v", values, names)
	}
}

// TestMaxDevices: past data.max_devices a new device is not registered
// (counted), the ones registered go on.
func TestMaxDevices(t *testing.T) {
	r, err := Open(Options{Log: quiet, MaxDevices: 2})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1717171200, 0)
	r.Update([]Seen{seen("a", "", t0, t0), seen("b", "", t0, t0), seen("c", "", t0, t0)}, "http")
	r.Update([]Seen{seen("a", "", t0.Add(time.Minute), t0.Add(time.Minute)), seen("d", "", t0, t0)}, "http")
	if r.Len() != 2 || r.Refused() != 2 {
		t.Errorf("%d devices, %d refused; want 2 and 2", r.Len(), r.Refused())
	}
	values, _ := exposition(t, r)
	if values[lastMsg+" a"] != float64(t0.Add(time.Minute).Unix()) {
		t.Errorf("a registered device stopped moving: %v", values)
	}
}

// TestSaveCostsWhatChanged: with many devices, a save after one of them
// changed appends that one to the journal, not the whole registry; a
// restart reads devices.json and the journal (a forgotten device stays
// gone); past its bound the journal is folded into a full save.
func TestSaveCostsWhatChanged(t *testing.T) {
	dir := t.TempDir()
	r := mustOpen(t, dir)
	t0 := time.Unix(1717171200, 0)
	var batch []Seen
	for i := range 5000 {
		batch = append(batch, seen(fmt.Sprintf("dev%05d", i), "", t0, t0))
	}
	r.Update(batch, "http")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	// The first save after Open's empty file journals the 5000; fold them.
	defer func(old int64) { compactAt = old }(compactAt)
	compactAt = 0
	r.mu.Lock()
	r.change("dev00000") // something to save
	r.mu.Unlock()
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	r.Update([]Seen{seen("dev00042", "", t0.Add(time.Hour), t0.Add(time.Hour))}, "http") // one changes
	r.Forget("dev00043")
	compactAt = 8 << 20
	base, _ := os.Stat(filepath.Join(dir, FileName))
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, FileName))
	journal, err := os.Stat(filepath.Join(dir, JournalName))
	if err != nil || journal.Size() > 1024 || !after.ModTime().Equal(base.ModTime()) || after.Size() != base.Size() {
		t.Errorf("a save of one change: journal %v (%v), devices.json %d -> %d bytes", journal, err, base.Size(), after.Size())
	}
	again := mustOpen(t, dir)
	values, _ := exposition(t, again)
	if values[lastMsg+" dev00042"] != float64(t0.Add(time.Hour).Unix()) || again.Len() != 4999 {
		t.Errorf("after a restart: dev00042 at %v, %d devices", values[lastMsg+" dev00042"], again.Len())
	}
	if _, gone := values[lastMsg+" dev00043"]; gone {
		t.Error("a forgotten device came back from the journal")
	}
}

// journalOfA is journalFixture with device a an hour later in the
// journal.
func journalOfA(t *testing.T, dir string) time.Time {
	t.Helper()
	r, t0 := journalFixture(t, dir)
	r.Update([]Seen{seen("a", "", t0.Add(time.Hour), t0.Add(time.Hour))}, "http")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	return t0
}

// journalFixture is a registry of two devices in dir, saved in full
// (devices.json), then with changes in the journal.
func journalFixture(t *testing.T, dir string) (*Registry, time.Time) {
	t.Helper()
	r := mustOpen(t, dir)
	t0 := time.Unix(1717171200, 0)
	r.Update([]Seen{seen("a", "", t0, t0), seen("b", "", t0, t0)}, "http")
	fullSave(t, r)
	return r, t0
}

// fullSave folds everything into devices.json.
func fullSave(t *testing.T, r *Registry) {
	t.Helper()
	defer func(old int64) { compactAt = old }(compactAt)
	compactAt = 0
	r.mu.Lock()
	r.change("a")
	r.mu.Unlock()
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
}

// TestJournalOfAnOlderGeneration: a crash between a full save and the
// journal's removal leaves the journal of the save before; a restart
// leaves it out rather than turning a device's last message back or
// forgetting a device registered again.
func TestJournalOfAnOlderGeneration(t *testing.T) {
	dir := t.TempDir()
	r, t0 := journalFixture(t, dir)
	r.Update([]Seen{seen("a", "", t0.Add(time.Hour), t0.Add(time.Hour))}, "http")
	r.Forget("b")
	if err := r.Save(); err != nil { // journal: a at +1h, b forgotten
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join(dir, JournalName))
	if err != nil {
		t.Fatal(err)
	}
	r.Update([]Seen{seen("a", "", t0.Add(2*time.Hour), t0.Add(2*time.Hour)), seen("b", "", t0.Add(2*time.Hour), t0.Add(2*time.Hour))}, "http")
	fullSave(t, r)
	// The crash: the journal's removal never happened.
	if err := os.WriteFile(filepath.Join(dir, JournalName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, dir)
	values, _ := exposition(t, again)
	if values[lastMsg+" a"] != float64(t0.Add(2*time.Hour).Unix()) || again.Len() != 2 {
		t.Errorf("after the restart: a at %v, %d devices; want a at +2h and b registered", values[lastMsg+" a"], again.Len())
	}
}

// openJournal opens the journal in dir for appending what a crash or
// damage leaves.
func openJournal(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, JournalName), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestJournalLineCutShort: a crash in the middle of an append leaves a
// line cut short; the next run's appends do not glue onto it, so the
// device they save survives the restart after.
func TestJournalLineCutShort(t *testing.T) {
	dir := t.TempDir()
	t0 := journalOfA(t, dir)
	f := openJournal(t, dir)
	f.WriteString(`{"ident":"b","last_message_ns":17`) // the crash
	f.Close()
	second := mustOpen(t, dir)
	second.Update([]Seen{seen("c", "", t0, t0)}, "http")
	if err := second.Save(); err != nil {
		t.Fatal(err)
	}
	third := mustOpen(t, dir)
	values, _ := exposition(t, third)
	if _, ok := values[lastMsg+" c"]; !ok || values[lastMsg+" a"] != float64(t0.Add(time.Hour).Unix()) || third.Len() != 3 {
		t.Errorf("after two restarts: %d devices, c present %v, a at %v", third.Len(), ok, values[lastMsg+" a"])
	}
}

// TestJournalLineTooLong: a line of the journal over 16 MiB (damage) loses
// that line only: the registry is not set aside, and the lines after it
// are applied.
func TestJournalLineTooLong(t *testing.T) {
	dir := t.TempDir()
	t0 := journalOfA(t, dir)
	f := openJournal(t, dir)
	f.WriteString(`{"ident":"x","name":"` + strings.Repeat("y", 17<<20) + "\"}\n")
	f.WriteString(fmt.Sprintf(`{"ident":"b","last_message_ns":%d,"last_received_ns":%d}`+"\n", t0.Add(time.Hour).UnixNano(), t0.Add(time.Hour).UnixNano()))
	f.Close()
	var logged strings.Builder
	again, err := Open(Options{Dir: dir, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	values, _ := exposition(t, again)
	if values[lastMsg+" a"] != float64(t0.Add(time.Hour).Unix()) || values[lastMsg+" b"] != float64(t0.Add(time.Hour).Unix()) {
		t.Errorf("after the restart: a at %v, b at %v; want both at +1h", values[lastMsg+" a"], values[lastMsg+" b"])
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(matches) > 0 || strings.Contains(logged.String(), "starts empty") {
		t.Errorf("the registry was set aside for one long line: %v\n%s", matches, logged.String())
	}
}

// TestDevicePlaceAfterForget: the registry keeps a device where the
// mapping's Device of its ident points; once forgotten (on request, or
// silent past forget_devices_after), the device's next message registers
// it again, though its place still points at the forgotten one.
func TestDevicePlaceAfterForget(t *testing.T) {
	clock := tb.NewClock()
	r, err := Open(Options{ForgetAfter: 24 * time.Hour, Now: clock.Now, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	place := &mapping.Device{}
	send := func() {
		s := seen("a", "truck", clock.Now(), clock.Now())
		s.Device = place
		r.Update([]Seen{s}, "http")
	}
	send()
	if !r.Forget("a") {
		t.Fatal("Forget found no device")
	}
	send()
	if devs := r.List(); len(devs) != 1 || devs[0].Ident != "a" {
		t.Fatalf("after Forget and a message: %+v", devs)
	}
	clock.Add(25 * time.Hour)
	r.Update(nil, "http")
	values, _ := exposition(t, r) // forgets the silent device
	if len(values) != 0 {
		t.Fatalf("after a silent day: %v", values)
	}
	send()
	if values, _ := exposition(t, r); values[lastMsg+" a"] != float64(clock.Now().Unix()) {
		t.Errorf("after forget_devices_after and a message: %v", values)
	}
}
