//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// TestRemoteWriteBufferedTrack: a tracker's hour out of coverage, 60
// messages a minute apart delivered in one batch in shuffled order, is
// queryable in Prometheus 2.42 (remote write receiver, out-of-order window)
// and in VictoriaMetrics at its 60 device times with exact values, where
// /metrics would have shown its last point only; with InfluxDB beside
// (both stores) and without it (remote write alone).
func TestRemoteWriteBufferedTrack(t *testing.T) {
	for _, c := range []struct {
		name     string
		receiver func(t *testing.T) (*testprom.Server, string)
		influx   bool
	}{
		{"prometheus", func(t *testing.T) (*testprom.Server, string) {
			p := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", RemoteWriteReceiver: true, OutOfOrder: 2 * time.Hour})
			return p, p.URL + "/api/v1/write"
		}, true},
		{"victoria-metrics", func(t *testing.T) (*testprom.Server, string) {
			v := testprom.StartVictoriaMetrics(t)
			return v, v.URL + "/api/v1/write"
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			recv, writeURL := c.receiver(t)
			env := map[string]string{"INFLUXDB_URL": "", "REMOTE_WRITE_URL": writeURL}
			var db *testinflux.Server
			if c.influx {
				db = testinflux.Start(t)
				env["INFLUXDB_URL"], env["INFLUXDB_BUCKET"], env["INFLUXDB_TOKEN"] = db.URL, testinflux.Bucket, testinflux.Token
			}
			ex := testexporter.Start(t, env)
			now := time.Now().Truncate(time.Second)
			var msgs []string
			want := map[int64]float64{}
			for i := range 60 {
				at := now.Add(-time.Hour + time.Duration(i)*time.Minute)
				want[at.Unix()] = float64(18*i) / 3.6
				msgs = append(msgs, fmt.Sprintf(`{"ident":"rw-truck","timestamp":%d,"position.speed":%d}`, at.Unix(), 18*i))
			}
			rand.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
			if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte("["+strings.Join(msgs, ",")+"]"), nil); code != 200 {
				t.Fatalf("%d %s", code, answer)
			}
			var got []testprom.Point
			var all map[string][]testprom.Point
			deadline := time.Now().Add(20 * time.Second)
			for len(got) != 60 {
				if time.Now().After(deadline) {
					t.Fatalf("%d samples in the receiver after 20 s: %v\nremote write samples sent %v, refused %v\n%s", len(got), all,
						testexporter.MetricValue(t, "http://"+ex.InternalAddr+"/metrics", "flespi_exporter_remote_write_samples_total"),
						testexporter.MetricValue(t, "http://"+ex.InternalAddr+"/metrics", "flespi_exporter_remote_write_samples_refused_total"), ex.Log())
				}
				all = recv.Samples(`{__name__=~"flespi_.*"}[2h]`, now.Add(time.Second))
				got = all[`{__name__="flespi_position_speed_meters_per_second",ident="rw-truck"}`]
				time.Sleep(200 * time.Millisecond)
			}
			for _, p := range got {
				v, _ := strconv.ParseFloat(p.Value, 64)
				if w, ok := want[int64(p.Time)]; !ok || v != w {
					t.Errorf("sample at %v = %v, want %v (present %v)", p.Time, v, w, ok)
				}
			}
			if c.influx {
				if n := db.Count("flespi", "position.speed"); n != 60 {
					t.Errorf("%d points in InfluxDB beside, want 60", n)
				}
			}
			if got := testexporter.MetricValue(t, "http://"+ex.InternalAddr+"/metrics", "flespi_exporter_remote_write_samples_total"); got < 121 {
				t.Errorf("remote write samples %v", got)
			}
		})
	}
}

// TestInfluxOutputIntoVictoriaMetrics: the InfluxDB output writes into
// VictoriaMetrics as it is (its /api/v2/write takes line protocol): each
// field becomes a series named after the measurement and the field,
// flespi_position.speed, tagged ident, at the message's time. README
// "Scaling out" says so.
func TestInfluxOutputIntoVictoriaMetrics(t *testing.T) {
	vm := testprom.StartVictoriaMetrics(t)
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": vm.URL, "INFLUXDB_BUCKET": "flespi", "INFLUXDB_TOKEN": "unused"})
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	body := fmt.Sprintf(`[{"ident":"vm-1","timestamp":%d,"position.speed":36,"battery.voltage":4.1}]`, at.Unix())
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte(body), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	var got map[string][]testprom.Point
	waitFor(t, 20*time.Second, "the field in VictoriaMetrics", func() bool {
		got = vm.Samples(`{__name__=~"flespi_.*", ident="vm-1"}[1h]`, time.Now())
		return len(got) >= 2
	})
	speed := got[`{__name__="flespi_position.speed",ident="vm-1"}`]
	if len(speed) != 1 || int64(speed[0].Time) != at.Unix() || speed[0].Value != "36" {
		t.Errorf("flespi_position.speed: %v; all: %v", speed, got)
	}
}

// TestReplicasDeviceMoved: two exporters scraped by one Prometheus with
// the shipped alert rules; a device reported to replica a an hour ago and
// to replica b now. Replica a still serves its old series (its registry
// keeps devices), yet the device is not silent: the alert takes the
// newest over replicas. The per-replica expression of before would have
// fired for a's series.
func TestReplicasDeviceMoved(t *testing.T) {
	hourAgo := func() time.Time { return time.Now().Add(-time.Hour) }
	a := testexporter.StartInProcess(t, testexporter.Options{Now: hourAgo})
	b := testexporter.StartInProcess(t, testexporter.Options{})
	msg := func(at time.Time) []byte {
		return []byte(fmt.Sprintf(`[{"ident":"mover","timestamp":%d,"position.speed":10}]`, at.Unix()))
	}
	if code, answer := testexporter.Post(t, a.URL+"/flespi", msg(hourAgo()), nil); code != 200 {
		t.Fatalf("a: %d %s", code, answer)
	}
	if code, answer := testexporter.Post(t, b.URL+"/flespi", msg(time.Now()), nil); code != 200 {
		t.Fatalf("b: %d %s", code, answer)
	}
	rules, _ := filepath.Abs("../grafana/prometheus/alerts.yml")
	prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics",
		Targets: []string{strings.TrimPrefix(a.InternalURL, "http://"), strings.TrimPrefix(b.InternalURL, "http://")}, RuleFiles: []string{rules}})
	prom.WaitFor(`count(flespi_device_last_received_timestamp_seconds{ident="mover"}) == 2`, 1)
	perReplica := prom.Query(`time() - flespi_device_last_received_timestamp_seconds{ident="mover"} > flespi_device_silent_after_seconds`)
	if len(perReplica) != 1 {
		t.Fatalf("the per-replica expression gives %v: the test does not show the case", perReplica)
	}
	time.Sleep(3 * time.Second) // rule evaluations every second
	if got := prom.Query(`ALERTS{alertname="FlespiDeviceSilent", ident="mover"}`); len(got) != 0 {
		t.Errorf("the device that moved replicas is alerted silent: %v", got)
	}
}

// TestRemoteWriteReceiverDown: with the receiver down a batch is answered
// 503 (nothing acknowledged); the receiver back, the batch sent again is
// answered 200 and every sample is there once.
func TestRemoteWriteReceiverDown(t *testing.T) {
	vm := testprom.StartVictoriaMetrics(t)
	ex := testexporter.Start(t, map[string]string{"INFLUXDB_URL": "", "REMOTE_WRITE_URL": vm.URL + "/api/v1/write"})
	now := time.Now().Truncate(time.Second)
	var msgs []string
	for i := range 30 {
		msgs = append(msgs, fmt.Sprintf(`{"ident":"rw-down","timestamp":%d,"position.speed":%d}`, now.Add(-time.Duration(30-i)*time.Minute).Unix(), i))
	}
	body := []byte("[" + strings.Join(msgs, ",") + "]")
	vm.Stop()
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", body, nil); code != 503 {
		t.Fatalf("with the receiver down: %d %s", code, answer)
	}
	vm.Restart()
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", body, nil); code != 200 {
		t.Fatalf("with the receiver back: %d %s", code, answer)
	}
	var got []testprom.Point
	waitFor(t, 20*time.Second, "30 samples", func() bool {
		got = vm.Samples(`flespi_position_speed_meters_per_second{ident="rw-down"}[1h]`, time.Now())[`{__name__="flespi_position_speed_meters_per_second",ident="rw-down"}`]
		return len(got) >= 30
	})
	if len(got) != 30 {
		t.Errorf("%d samples, want 30 (each once)", len(got))
	}
}

// TestReplicasBehindHAProxy: two exporters behind haproxy (round robin),
// one killed mid-stream; the sender (as flespi does) sends again what was
// not answered 200: every message is in InfluxDB once.
func TestReplicasBehindHAProxy(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed: run the tests with scripts/test.sh, which installs it")
	}
	db := testinflux.Start(t)
	env := map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token}
	a, b := testexporter.Start(t, env), testexporter.Start(t, env)
	front := tb.FreeAddr(t)
	conf := filepath.Join(t.TempDir(), "haproxy.cfg")
	cfg := fmt.Sprintf(`defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 2
  option redispatch
frontend stream
  bind %s
  default_backend exporters
backend exporters
  balance roundrobin
  server a %s check inter 300ms fall 1
  server b %s check inter 300ms fall 1
`, front, a.Addr, b.Addr)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := exec.Command(bin, "-f", conf, "-db")
	var proxyLog tb.Buffer
	proxy.Stdout, proxy.Stderr = &proxyLog, &proxyLog
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Process.Kill(); _ = proxy.Wait() })
	waitFor(t, 10*time.Second, "haproxy", func() bool {
		c, err := net.Dial("tcp", front)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	w := workload.Generate(4000, 200, 100, 11)
	done := make(chan error, 1)
	go func() { done <- workload.Replay("http://"+front+"/flespi", w.Batches, 2) }()
	waitFor(t, 30*time.Second, "some messages stored", func() bool { return countAll(t, db) > 500 })
	a.Kill()
	if err := <-done; err != nil {
		t.Fatalf("replay: %v\n%s", err, proxyLog.String())
	}
	if n := countAll(t, db); n != len(w.Messages) {
		t.Errorf("%d points, want the %d messages once each", n, len(w.Messages))
	}
}
