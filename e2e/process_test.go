//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// startProcess runs the exporter binary against InfluxDB at influxURL.
func startProcess(t *testing.T, influxURL string) *testexporter.Process {
	return testexporter.Start(t, map[string]string{
		"INFLUXDB_URL":    influxURL,
		"INFLUXDB_BUCKET": testinflux.Bucket,
		"INFLUXDB_TOKEN":  testinflux.Token,
	})
}

// TestStreamWithFaults is the promise end to end: a flespi-like stream posts
// the samples and 12,000 messages of 120 devices through the real binary
// while InfluxDB stops and restarts and the exporter is killed and
// restarted; at the end every message is in InfluxDB exactly once, with its
// values and its exact microsecond timestamp.
func TestStreamWithFaults(t *testing.T) {
	db := testinflux.Start(t)
	ex := startProcess(t, db.URL)
	stream := workload.NewStream("http://" + ex.Addr + "/flespi")
	w := workload.Generate(12000, 120, 500, 42)

	// The samples but the first, which has no timestamp at all.
	var sampleMsgs []json.RawMessage
	if err := json.Unmarshal(testexporter.Samples(t), &sampleMsgs); err != nil {
		t.Fatal(err)
	}
	first, _ := json.Marshal(sampleMsgs[1:])
	if err := stream.Deliver(first); err != nil {
		t.Fatal(err)
	}

	for i, batch := range w.Batches {
		switch i {
		case 6: // InfluxDB goes away for a while.
			db.Stop()
			go func() {
				time.Sleep(1500 * time.Millisecond)
				db.Restart()
			}()
		case 14: // The exporter is killed while it handles the batch.
			go func() {
				time.Sleep(5 * time.Millisecond)
				ex.Kill()
				time.Sleep(500 * time.Millisecond)
				ex.Restart()
			}()
		}
		if err := stream.Deliver(batch); err != nil {
			t.Fatalf("batch %d: %v\n%s", i, err, ex.Log())
		}
	}
	failures := stream.Failures()
	if failures[http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 while InfluxDB was down")
	}
	if failures[0] == 0 {
		t.Error("no failed request while the exporter was down")
	}
	t.Logf("answers other than 200: %v", failures)

	if n := countAll(t, db); n != len(w.Messages)+len(sampleMsgs)-1 {
		t.Errorf("%d points in InfluxDB, want %d: one per message", n, len(w.Messages)+len(sampleMsgs)-1)
	}
	checkWorkload(t, db, w)
}

// checkWorkload reads every generated message back and compares its values
// and time.
func checkWorkload(t *testing.T, db *testinflux.Server, w *workload.Workload) {
	t.Helper()
	want := map[string]workload.Message{}
	for _, m := range w.Messages {
		want[m.Ident+"@"+strconv.FormatInt(m.Micros*1000, 10)] = m
	}
	series := db.Query(`SELECT "position.speed", "external.powersource.voltage", "can.engine.rpm" FROM flespi WHERE ident =~ /^8635209/ GROUP BY ident`)
	seen := 0
	for _, s := range series {
		for _, row := range s.Values {
			key := s.Tags["ident"] + "@" + row[0].(json.Number).String()
			m, ok := want[key]
			if !ok {
				t.Errorf("unexpected point %s", key)
				continue
			}
			seen++
			got := fmt.Sprintf("%v %v %v", row[1], row[2], row[3])
			exp := fmt.Sprintf("%d %s %d", m.Speed, strconv.FormatFloat(m.Voltage, 'f', -1, 64), m.RPM)
			if got != exp {
				t.Errorf("%s: got %s, want %s", key, got, exp)
			}
		}
	}
	if seen != len(w.Messages) {
		t.Errorf("read back %d of %d generated messages", seen, len(w.Messages))
	}
}

// TestGracefulShutdown sends SIGTERM while a batch is being received: the
// batch is still stored and acknowledged, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	db := testinflux.Start(t)
	ex := startProcess(t, db.URL)
	pr, pw := io.Pipe()
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ex.Addr+"/flespi", "application/json", pr)
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	body := testexporter.Samples(t)
	pw.Write(body[:100])
	time.Sleep(200 * time.Millisecond) // the request is in the handler now
	if err := ex.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	pw.Write(body[100:])
	pw.Close()
	if code := <-answer; code != 200 {
		t.Errorf("in-flight batch answered %d during shutdown\n%s", code, ex.Log())
	}
	if err := ex.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, ex.Log())
	}
	if n := countAll(t, db); n != 8 {
		t.Errorf("%d points stored, want 8", n)
	}
}

// TestSIGHUPReload: the binary reloads its rules on SIGHUP.
func TestSIGHUPReload(t *testing.T) {
	file, base := testexporter.CopyConfig(t)
	ex := testexporter.StartConfig(t, file, nil)
	url := "http://" + ex.Addr
	if err := os.WriteFile(file, append(base, "\n[[rule]]\nmatch = \"custom.param.*\"\ngauge = \"custom_$1\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ex.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stream := workload.NewStream(url + "/flespi")
		if err := stream.Deliver([]byte(`[{"ident":"a","timestamp":1717171200,"custom.param.7":42}]`)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + ex.InternalAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `flespi_custom_7{ident="a"} 42`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no gauge from the rule added before SIGHUP\n%s", ex.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(ex.Log(), "configuration reloaded") {
		t.Errorf("the log does not say the configuration was reloaded:\n%s", ex.Log())
	}
}

// TestDevicesSurviveRestart: the device registry brings every device's
// last-message and last-received gauges back after a SIGKILL, with the
// same values, before any new message: a silent tracker stays silent to
// Prometheus instead of vanishing with the restart.
func TestDevicesSurviveRestart(t *testing.T) {
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": ""}) // Prometheus only
	if err := workload.NewStream("http://" + ex.Addr + "/flespi").Deliver(testexporter.Samples(t)); err != nil {
		t.Fatal(err)
	}
	metrics := "http://" + ex.InternalAddr + "/metrics"
	before := deviceGauges(t, metrics)
	if len(before) != 12 { // 6 devices, 2 last-* gauges each
		t.Fatalf("before the restart: %v", before)
	}
	// The registry is saved every few seconds; wait for the save that holds
	// the samples' devices, then kill without a chance to save again.
	// A save appends what changed to devices.journal until a full save.
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(ex.DataDir, "devices.json"))
		journal, _ := os.ReadFile(filepath.Join(ex.DataDir, "devices.journal"))
		data = append(data, journal...)
		if strings.Contains(string(data), `"4764252939"`) && strings.Contains(string(data), `"605630"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices.json and its journal were not written within 20 s:\n%s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ex.Kill()
	ex.Restart()
	after := deviceGauges(t, metrics)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s before the SIGKILL, %q after", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d device series after the restart, %d before", len(after), len(before))
	}
}

// deviceGauges returns the device gauge lines of /metrics, value by series.
func deviceGauges(t *testing.T, url string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(testexporter.Get(t, url), "\n") {
		if strings.HasPrefix(line, "flespi_device_last_") {
			series, value, _ := strings.Cut(line, " ")
			out[series] = value
		}
	}
	return out
}

// TestWrongInfluxDBSettings: a token InfluxDB refuses, or a database it
// does not have, leaves the exporter not ready (/-/ready 503 naming the
// setting to fix) from its first probe, with an error in its log naming
// it; `check -influx` says the same and fails. Batches are answered 503.
func TestWrongInfluxDBSettings(t *testing.T) {
	db := testinflux.StartWithAuth(t)
	for _, c := range []struct{ token, bucket, want string }{
		{"user:wrong", testinflux.Bucket, "check INFLUXDB_TOKEN"},
		{testinflux.Token, "nodb/autogen", "check INFLUXDB_BUCKET"},
	} {
		env := map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_TOKEN": c.token, "INFLUXDB_BUCKET": c.bucket}
		ex := testexporter.Start(t, env)
		code, body := testexporter.Post(t, "http://"+ex.InternalAddr+"/-/ready", nil, nil)
		if code != 503 || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: /-/ready %d %q, want 503 saying %q", c.token, c.bucket, code, body, c.want)
		}
		waitFor(t, 10*time.Second, "the log line", func() bool { return strings.Contains(ex.Log(), c.want) })
		if code, body := testexporter.Post(t, "http://"+ex.Addr+"/flespi", testexporter.Samples(t), nil); code != 503 || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: a batch answered %d %q", c.token, c.bucket, code, body)
		}
		ex.Kill()
		cmd := exec.Command(testexporter.Binary(t), "check", "-influx", "-config", testexporter.ConfigFile())
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("check -influx with %s %s: %v\n%s", c.token, c.bucket, err, out)
		}
	}
	// Right settings: ready.
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_TOKEN": testinflux.Token, "INFLUXDB_BUCKET": testinflux.Bucket})
	if code, body := testexporter.Post(t, "http://"+ex.InternalAddr+"/-/ready", nil, nil); code != 200 {
		t.Errorf("/-/ready with the right settings: %d %s", code, body)
	}
}

// TestVersionIsTheCommit: the binary built from a checkout says the
// commit it was built from, not "(devel)".
func TestVersionIsTheCommit(t *testing.T) {
	out, err := exec.Command(testexporter.Binary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "rev-parse", "--short=7", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v (the tests run in a git checkout)", err)
	}
	short := strings.TrimSpace(string(head))
	if !strings.HasPrefix(string(out), "flespi-exporter ") || !strings.Contains(string(out), short) {
		t.Errorf("version: %q, want it to name commit %s", out, short)
	}
}

// TestProfilesOnStop: serve -cpuprofile and -memprofile write, when the
// process is told to stop, a CPU profile of the run and a heap profile of
// what it held (the gauges of the devices it was sent), as go tool pprof
// reads them.
func TestProfilesOnStop(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.heap")
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": ""}, "-cpuprofile", cpu, "-memprofile", heap)
	w := workload.Generate(2000, 200, 500, 1)
	if err := workload.Replay("http://"+ex.Addr+"/flespi", w.Batches, 1); err != nil {
		t.Fatal(err)
	}
	if err := ex.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, ex.Log())
	}
	for file, want := range map[string]string{cpu: "samples/count", heap: "exporter/output/gauges"} {
		out, err := exec.Command("go", "tool", "pprof", "-raw", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("go tool pprof -raw %s: %v; want %q in:\n%.2000s", file, err, want, out)
		}
	}
}
