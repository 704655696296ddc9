//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/dashboardtest"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeflespi"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
)

// TestBackfillFromFlespi is issue 25's acceptance: 10,000 messages of 50
// devices over 30 days, served 1,000 to a page by a flespi that answers
// 429 twice (once with Retry-After) and has messages of several devices
// at one time across pages' ends, imported by `flespi-exporter import
// -flespi all` into InfluxDB 1.8 with one interruption (SIGINT while it
// waits for flespi), then resumed: every message stored once at its own
// time; a second run stores nothing and asks flespi nothing.
func TestBackfillFromFlespi(t *testing.T) {
	db := testinflux.Start(t)
	fs := fakeflespi.Start(t, "FlespiBackfillToken")
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10_000 {
		// Every 7th message shares its time with the one before, of
		// another device: ties across pages' ends too.
		at := float64(start.Unix()) + float64(i/7*7)*259 + float64(i%7)*0.125
		if i%7 == 1 {
			at = float64(start.Unix()) + float64(i/7*7)*259
		}
		fs.Add(1000+i%50, fmt.Sprintf("dev%02d", i%50), at, map[string]any{"position.speed": i % 130})
	}
	fs.Then(
		fakeflespi.Answer{}, fakeflespi.Answer{}, // two pages
		fakeflespi.Answer{Status: 429, RetryAfter: "3", Body: `{"errors":[{"code":429,"reason":"too many requests"}]}`},
		fakeflespi.Answer{}, fakeflespi.Answer{},
		fakeflespi.Answer{Status: 429, Body: `{"errors":[{"code":429,"reason":"too many requests"}]}`},
	)
	state := filepath.Join(t.TempDir(), "backfill.state")
	run := func() *exec.Cmd {
		cmd := importCmd(t, db, 0, "-flespi", "all", "-from", "2026-10-31", "-to", "2026-12-05", "-flespi-host", fs.URL, "-state", state)
		cmd.Env = append(cmd.Env, "FLESPI_TOKEN=FlespiBackfillToken")
		return cmd
	}
	// The first run is interrupted while it waits out the Retry-After.
	first := run()
	var out tb.Buffer // written by the command's copying goroutine, read here
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the wait for flespi's Retry-After", func() bool { return strings.Contains(out.String(), "trying again in 3s") })
	_ = first.Process.Signal(syscall.SIGINT)
	err := first.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("the interrupted import: %v\n%s", err, out.String())
	}
	stored := speeds(t, db)
	// Two pages of 1,000; the second starts at the first's last time,
	// whose message it leaves out: 1,999.
	if stored != 1999 {
		t.Fatalf("%d messages stored before the interruption, want the two pages' 1,999\n%s", stored, out.String())
	}
	// Resumed: to the end, past the second 429.
	second, err := run().CombinedOutput()
	if err != nil || !strings.Contains(string(second), "resuming at") {
		t.Fatalf("the resumed import: %v\n%s", err, second)
	}
	if n := speeds(t, db); n != 10_000 {
		t.Errorf("%d points in InfluxDB, want the 10,000 messages once each\n%s", n, second)
	}
	// Exact times: the first message, and one of a tie.
	if got := jsonText(field(t, db, "position.speed", "dev00", start.UnixNano())); got != "0" {
		t.Errorf("dev00's first message: %s", got)
	}
	if got := jsonText(field(t, db, "position.speed", "dev08", start.Add(7*259*time.Second).UnixNano())); got != "8" {
		t.Errorf("dev08's message at a tie: %s", got)
	}
	requests := fs.Requests()
	third, err := run().CombinedOutput()
	if err != nil || !strings.Contains(string(third), "imported already (10000 messages") || fs.Requests() != requests {
		t.Errorf("a run after the end: %v, %d requests more\n%s", err, fs.Requests()-requests, third)
	}
	if n := speeds(t, db); n != 10_000 {
		t.Errorf("%d points after the third run", n)
	}
}

// hourlyHistory stores in fs two days of three buses reporting hourly,
// each message received by flespi 5 s after its time (server.timestamp).
func hourlyHistory(fs *fakeflespi.Server) (start time.Time) {
	start = time.Now().Add(-48 * time.Hour).Truncate(time.Hour)
	for h := range 48 {
		for b := range 3 {
			at := start.Add(time.Duration(h) * time.Hour).Add(time.Duration(b) * time.Minute)
			fs.Add(2000+b, fmt.Sprintf("bus%d", b), float64(at.Unix()),
				map[string]any{"position.speed": 0, "engine.ignition.status": false, "server.timestamp": at.Unix() + 5})
		}
	}
	return start
}

// TestBackfillEverywhere: a backfill goes where the live stream goes,
// with the exporter stopped or running. Stopped: `import` takes the data
// directory and writes InfluxDB and remote write (VictoriaMetrics) both,
// and the device registry: the exporter started afterwards knows each
// bus's hourly rhythm (silent after 2 hours). Running, with remote write
// alone: the exporter does the import (one writer on the registry), and
// the rhythm is on its /metrics at once. The same relative command run
// again reads only what is new since.
func TestBackfillEverywhere(t *testing.T) {
	fs := fakeflespi.Start(t, "FlespiBackfillToken")
	hourlyHistory(fs)
	silences := func(t *testing.T, ex *testexporter.Process) {
		t.Helper()
		for b := range 3 {
			if got := testexporter.MetricValue(t, "http://"+ex.InternalAddr+"/metrics", "flespi_device_silent_after_seconds", "ident", fmt.Sprintf("bus%d", b)); got != 7200 {
				t.Errorf("bus%d silent after %vs, want the hourly rhythm's 7200", b, got)
			}
		}
	}
	vmSpeeds := func(t *testing.T, vm *testprom.Server) {
		t.Helper()
		var got map[string][]testprom.Point
		waitFor(t, 20*time.Second, "the samples in VictoriaMetrics", func() bool {
			got = vm.Samples(`flespi_position_speed_meters_per_second[3d]`, time.Now())
			return len(got) == 3 && len(got[`{__name__="flespi_position_speed_meters_per_second",ident="bus2"}`]) >= 48
		})
		for b := range 3 {
			if n := len(got[fmt.Sprintf(`{__name__="flespi_position_speed_meters_per_second",ident="bus%d"}`, b)]); n != 48 {
				t.Errorf("bus%d: %d samples in VictoriaMetrics, want 48", b, n)
			}
		}
	}
	importRun := func(t *testing.T, env []string) string {
		t.Helper()
		cmd := exec.Command(testexporter.Binary(t), "import", "-config", testexporter.ConfigFile(), "-flespi", "all", "-from", "3d", "-flespi-host", fs.URL)
		cmd.Env = append(append(os.Environ(), "FLESPI_TOKEN=FlespiBackfillToken"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		return string(out)
	}

	t.Run("exporter stopped, both stores", func(t *testing.T) {
		db, vm, dir := testinflux.Start(t), testprom.StartVictoriaMetrics(t), t.TempDir()
		env := []string{"INFLUXDB_URL=" + db.URL, "INFLUXDB_BUCKET=" + testinflux.Bucket, "INFLUXDB_TOKEN=" + testinflux.Token,
			"REMOTE_WRITE_URL=" + vm.URL + "/api/v1/write", "FLESPI_EXPORTER_DATA_DIR=" + dir}
		if out := importRun(t, env); strings.Contains(out, "the exporter runs") || !strings.Contains(out, "imported 144 messages") {
			t.Errorf("import alone:\n%s", out)
		}
		if n := speeds(t, db); n != 144 {
			t.Errorf("%d points in InfluxDB, want 144", n)
		}
		vmSpeeds(t, vm)
		ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token,
			"REMOTE_WRITE_URL": vm.URL + "/api/v1/write", "FLESPI_EXPORTER_DATA_DIR": dir})
		silences(t, ex)
	})

	t.Run("exporter running, remote write alone", func(t *testing.T) {
		vm, dir := testprom.StartVictoriaMetrics(t), t.TempDir()
		ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": "", "REMOTE_WRITE_URL": vm.URL + "/api/v1/write", "FLESPI_EXPORTER_DATA_DIR": dir})
		env := []string{"INFLUXDB_URL=", "REMOTE_WRITE_URL=" + vm.URL + "/api/v1/write", "FLESPI_EXPORTER_DATA_DIR=" + dir,
			"FLESPI_EXPORTER_INTERNAL_LISTEN=" + ex.InternalAddr}
		if out := importRun(t, env); !strings.Contains(out, "the exporter runs") || !strings.Contains(out, "imported 144 messages") {
			t.Errorf("import through the exporter:\n%s", out)
		}
		vmSpeeds(t, vm)
		silences(t, ex)
		// The same command a little later: only what is new since (nothing
		// here), in a request or two.
		before := fs.Requests()
		out := importRun(t, env)
		if fs.Requests()-before > 2 || !strings.Contains(out, "reading only what earlier runs did not") {
			t.Errorf("the same backfill again asked flespi %d times:\n%s", fs.Requests()-before, out)
		}
		vmSpeeds(t, vm)
	})
}

// TestBackfillFleetEvents: thirty days of a truck (a working day, then
// parked until the next morning) served by flespi's REST API (the test
// kit's), imported through the running exporter, which has the truck
// live since today: flespi_events has each trip, idle, overspeed and
// drain of the thirty days in InfluxDB, the live counters stay as they
// were (no month of drain alerts), and the fleet dashboard's trips query
// returns the thirty days' trips.
func TestBackfillFleetEvents(t *testing.T) {
	db := testinflux.Start(t)
	fs := fakeflespi.Start(t, "FlespiBackfillToken")
	var steps []fleettrace.Step
	for range 30 {
		steps = append(steps, fleettrace.WorkingDay()...)
		steps = append(steps, fleettrace.Step{Kind: fleettrace.Park, For: 24*time.Hour - 7*time.Hour - 12*time.Minute, Every: time.Hour})
	}
	start := time.Now().Add(-31 * 24 * time.Hour).Truncate(24 * time.Hour)
	month := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 2000, Seed: 30}, start, steps)
	for _, d := range month.Deliveries {
		var m map[string]any
		if err := json.Unmarshal(d.JSON, &m); err != nil {
			t.Fatal(err)
		}
		ts := m["timestamp"].(float64)
		delete(m, "ident")
		delete(m, "timestamp")
		fs.Add(7001, "352093081234567", ts, m)
	}
	want := map[string]int{}
	for _, e := range month.Expected {
		want[e.Kind.String()]++
	}

	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token})
	// Live since now: parked where the month ended.
	live := fmt.Sprintf(`[{"ident":"352093081234567","device.name":"Truck 7","timestamp":%d,"position.latitude":53.9,"position.longitude":27.56,"position.speed":0,"position.valid":true,"engine.ignition.status":false}]`, time.Now().Unix())
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte(live), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	before := scrapeCounters("http://" + ex.InternalAddr + "/metrics")
	cmd := exec.Command(testexporter.Binary(t), "import", "-config", testexporter.ConfigFile(), "-flespi", "all", "-from", "32d", "-flespi-host", fs.URL)
	cmd.Env = append(os.Environ(), "FLESPI_TOKEN=FlespiBackfillToken", "FLESPI_EXPORTER_INTERNAL_LISTEN="+ex.InternalAddr,
		"FLESPI_EXPORTER_DATA_DIR="+ex.DataDir, "INFLUXDB_URL="+db.URL, "INFLUXDB_BUCKET="+testinflux.Bucket, "INFLUXDB_TOKEN="+testinflux.Token)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("imported %d messages", len(month.Deliveries))) {
		t.Fatalf("import: %v\n%s", err, out)
	}
	wantEvents(t, db, want, "; the import said:\n"+string(out))
	if after := scrapeCounters("http://" + ex.InternalAddr + "/metrics"); after["flespi_device_trips_total"] != before["flespi_device_trips_total"] ||
		after["flespi_device_fuel_drained_liters_total"] != before["flespi_device_fuel_drained_liters_total"] {
		t.Errorf("the import moved the live counters: %v, were %v", after, before)
	}
	// The fleet dashboard's trips table, as Grafana asks it.
	d := dashboardtest.Read(t, "../grafana/dashboards/flespi-fleet.json")
	var trips string
	for _, p := range d.Panels {
		if p.Title == "Trips" {
			trips = p.Targets[0].Query
		}
	}
	q := strings.NewReplacer("$ident", "352093081234567", "$timeFilter", "time > now() - 40d").Replace(trips)
	rows := 0
	for _, s := range db.Query(q) {
		rows += len(s.Values)
	}
	if rows != want["trip"] || rows != 60 {
		t.Errorf("the dashboard's trips query returns %d rows, want the month's %d trips: %s", rows, want["trip"], q)
	}
}
