//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
)

// TestFleetEventsSurviveSIGKILL: a golden day (two trips, idling, an
// overspeed, a drain while parked) sent as flespi's HTTP stream would, in
// batches; the exporter SIGKILLed mid-trip and restarted, the batch it
// was killed on sent again, the rest of the day, then the whole day
// again. InfluxDB (flespi_events), /metrics and VictoriaMetrics (remote
// write) each have every event once, and no counter scraped throughout
// ever went back. A real Prometheus with the shipped alerts fires
// FlespiFuelDrain for the drain, once: a SIGKILL, a restart and the day
// sent once more after it fire nothing more.
func TestFleetEventsSurviveSIGKILL(t *testing.T) {
	db := testinflux.Start(t)
	vm := testprom.StartVictoriaMetrics(t)
	file, text := testexporter.CopyConfig(t)
	// A short reorder window: the test sends a day in seconds.
	if err := os.WriteFile(file, append(text, "\n[events]\nreorder_window = \"1s\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := testexporter.StartConfig(t, file, map[string]string{"INFLUXDB_URL": db.URL, "INFLUXDB_BUCKET": testinflux.Bucket,
		"INFLUXDB_TOKEN": testinflux.Token, "REMOTE_WRITE_URL": vm.URL + "/api/v1/write"})
	rules, _ := filepath.Abs("../grafana/prometheus/alerts.yml")
	prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", Targets: []string{ex.InternalAddr}, RuleFiles: []string{rules}})

	start := time.Now().Add(-20 * time.Hour).Truncate(time.Hour)
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 300, Seed: 21}, start, fleettrace.WorkingDay())
	var want fleet.Totals
	wantN := map[string]int{}
	for i := range day.Expected {
		want.Add(&day.Expected[i])
		wantN[day.Expected[i].Kind.String()]++
	}

	// Scrape /metrics all along: a counter must never go back.
	var mu sync.Mutex
	seen := map[string]float64{}
	var backwards []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for name, v := range scrapeCounters("http://" + ex.InternalAddr + "/metrics") {
				mu.Lock()
				if v < seen[name] {
					backwards = append(backwards, fmt.Sprintf("%s from %v to %v", name, seen[name], v))
				}
				seen[name] = max(seen[name], v)
				mu.Unlock()
			}
		}
	})

	send := func(b []fleettrace.Delivery) {
		t.Helper()
		if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", fleettrace.Body(b), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	var bs [][]fleettrace.Delivery
	for ds := day.Deliveries; len(ds) > 0; {
		k := min(8, len(ds))
		bs, ds = append(bs, ds[:k]), ds[k:]
	}
	kill := len(bs) / 3 // within the first drive
	for i, b := range bs {
		send(b)
		if i == 0 {
			// Prometheus sees the device before its events: a series
			// that appears at its value grew by nothing.
			prom.WaitFor(`flespi_device_fuel_drained_liters_total{ident="352093081234567"}`, 1)
		}
		if i == kill {
			ex.Kill() // as if the answer never reached flespi
			ex.Restart()
			send(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, b := range bs { // the whole day again
		send(b)
	}
	waitFor(t, 30*time.Second, "every event on /metrics", func() bool {
		c := scrapeCounters("http://" + ex.InternalAddr + "/metrics")
		return c["flespi_device_trips_total"] == float64(want.Trips) && c["flespi_device_fuel_drained_liters_total"] > 0
	})
	close(stop)
	wg.Wait()
	if len(backwards) > 0 {
		t.Errorf("counters went back: %v", backwards)
	}
	c := scrapeCounters("http://" + ex.InternalAddr + "/metrics")
	if c["flespi_device_overspeeds_total"] != float64(want.Overspeeds) || c["flespi_device_idle_seconds_total"] != want.IdleS {
		t.Errorf("/metrics: %v; want %+v", c, want)
	}
	if d := c["flespi_device_distance_meters_total"]; d < 0.98*want.DistanceM || d > 1.02*want.DistanceM {
		t.Errorf("distance %.0f m, want %.0f m", d, want.DistanceM)
	}

	// InfluxDB: each event once, tagged by kind, at the event's start.
	got := wantEvents(t, db, wantN, "")

	// VictoriaMetrics: the counters at each event's time, counted once.
	var trips []testprom.Point
	waitFor(t, 30*time.Second, "the trip counter in VictoriaMetrics", func() bool {
		trips = vm.Samples(`flespi_device_trips_total{ident="352093081234567"}[1d]`, time.Now())[`{__name__="flespi_device_trips_total",device_name="Truck 7",ident="352093081234567"}`]
		return len(trips) > 0 && trips[len(trips)-1].Value == fmt.Sprint(want.Trips)
	})
	prev := -1.0
	for _, p := range trips {
		var v float64
		fmt.Sscan(p.Value, &v)
		if v < prev {
			t.Errorf("remote write: trips went back: %v", trips)
		}
		prev = v
	}
	// The drain fires FlespiFuelDrain once; a SIGKILL, a restart and the
	// day again fire nothing more: the alert stays the one it was.
	drain := `ALERTS_FOR_STATE{alertname="FlespiFuelDrain", ident="352093081234567"}`
	firing := prom.WaitFor(drain, 1)
	if alerts := prom.Query(`ALERTS{alertname="FlespiFuelDrain", alertstate="firing"}`); len(alerts) != 1 {
		t.Errorf("FlespiFuelDrain: %v, want one firing alert", alerts)
	}
	ex.Kill()
	ex.Restart()
	for _, b := range bs {
		send(b)
	}
	time.Sleep(5 * time.Second) // scrapes and rule evaluations every second
	if again := prom.Query(drain); len(again) != 1 || again[0].Value[1] != firing[0].Value[1] {
		t.Errorf("after a SIGKILL and the day again, FlespiFuelDrain is %v, want the alert active since %v only", again, firing[0].Value[1])
	}
	if over := prom.Query(`ALERTS{alertname="FlespiOverspeed", alertstate="firing"}`); len(over) != 1 {
		t.Errorf("FlespiOverspeed: %v, want the one overspeed", over)
	}
	t.Logf("/metrics %v; InfluxDB %v; trips in VictoriaMetrics %v; drain alert active since %v", c, got, trips, firing[0].Value[1])

	// A van on the road now, beside the parked truck: the status page
	// shows each one's motion and last event, and `status` the drain.
	now := time.Now().Truncate(time.Second)
	van := fmt.Sprintf(`[{"ident":"van-2","device.name":"Van 2","timestamp":%d,"position.latitude":50.1,"position.longitude":30.1,"position.speed":50,"position.valid":true,"engine.ignition.status":true},`+
		`{"ident":"van-2","device.name":"Van 2","timestamp":%d,"position.latitude":50.1004,"position.longitude":30.1,"position.speed":52,"position.valid":true,"engine.ignition.status":true}]`,
		now.Add(-40*time.Second).Unix(), now.Add(-30*time.Second).Unix())
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte(van), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	waitFor(t, 30*time.Second, "the van moving on /metrics", func() bool {
		body, _ := getBody("http://" + ex.InternalAddr + "/metrics")
		return strings.Contains(body, `flespi_device_motion{device_name="Van 2",ident="van-2"} 1`)
	})
	out, err := exec.Command(testexporter.Binary(t), "status", "-url", "http://"+ex.InternalAddr).CombinedOutput()
	if !strings.Contains(string(out), "fuel drains in the last 24 hours") || !strings.Contains(string(out), "Truck 7 (352093081234567)  25.") {
		t.Errorf("status does not list the drain (%v):\n%s", err, out)
	}
	ctx, scriptErrors := openBrowser(t, 1280, 800)
	var truck, vanRow, attention string
	if err := chromedp.Run(ctx,
		chromedp.Navigate("http://"+ex.InternalAddr+"/"),
		chromedp.WaitVisible("#devices", chromedp.ByQuery),
		chromedp.SendKeys("#filter", "352093081234567", chromedp.ByQuery),
		chromedp.Poll(`(document.querySelector('#devices tbody tr:first-child td') || {}).textContent === '352093081234567'`, nil),
		chromedp.Evaluate(`document.querySelector('#devices tbody tr:first-child').textContent`, &truck), // one read: the list may be drawn again
		chromedp.Navigate("http://"+ex.InternalAddr+"/"),
		chromedp.WaitVisible("#devices", chromedp.ByQuery),
		chromedp.SendKeys("#filter", "van-2", chromedp.ByQuery),
		chromedp.Poll(`(document.querySelector('#devices tbody tr:first-child td') || {}).textContent === 'van-2'`, nil),
		chromedp.Evaluate(`document.querySelector('#devices tbody tr:first-child').textContent`, &vanRow),
		chromedp.Evaluate(`document.querySelector('#attention').textContent`, &attention),
	); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(truck, "parked") || !strings.Contains(truck, "drain") || !strings.Contains(vanRow, "moving") {
		t.Errorf("the status page's rows: truck %q, van %q; want the truck parked after its drain and the van moving", truck, vanRow)
	}
	if !strings.Contains(attention, "fuel drain in the last 24 hours") {
		t.Errorf("the attention list does not name the drain: %q", attention)
	}
	if errs := scriptErrors(); len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
	if len(backwards) == 0 && t.Failed() {
		t.Log(ex.Log())
	}
}
