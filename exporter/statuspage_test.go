package exporter

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestStatusPageInBrowser opens the status page in a real headless
// Chromium after the samples are posted: it lists the devices and the
// unmapped parameters with a rule suggestion, and the filter works. The
// screenshot is written to $ARTIFACTS_DIR (the temporary directory when
// unset).
func TestStatusPageInBrowser(t *testing.T) {
	ex := startExporter(t, "", nil, "")
	if code, answer := post(t, ex.URL+"/flespi", samples(t), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run the tests with scripts/test.sh, which installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profileDir(t)), chromedp.WindowSize(1200, 1600),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var rows, visible int
	var unmapped, count, firstByMessages string
	var png []byte
	err = chromedp.Run(ctx,
		chromedp.Navigate(ex.URL+"/"),
		chromedp.WaitVisible("#devices", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#devices tbody tr').length`, &rows),
		chromedp.Text("#unmapped tbody", &unmapped, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100), // 100: PNG,
		// Sort by messages, most first: two devices sent two messages.
		chromedp.Click(`#devices th:nth-child(5)`, chromedp.ByQuery),
		chromedp.Click(`#devices th:nth-child(5)`, chromedp.ByQuery),
		chromedp.Text(`#devices tbody tr:first-child td:nth-child(5)`, &firstByMessages, chromedp.ByQuery),
		chromedp.SendKeys("#filter", "FVO", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#devices tbody tr')).filter(r => r.style.display !== 'none').length`, &visible),
		chromedp.Text("#device-count", &count, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	_ = chromedp.Cancel(ctx) // close the browser and wait for it
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "flespi-exporter-status.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s", shot)
	if rows != 6 {
		t.Errorf("%d device rows, want the 6 idents of the samples", rows)
	}
	if !strings.Contains(unmapped, "custom.param.10800") || !strings.Contains(unmapped, `match = "custom.param.*"`) {
		t.Errorf("unmapped parameters table:\n%s", unmapped)
	}
	if firstByMessages != "2" {
		t.Errorf("sorted by messages, the first row has %q messages, want 2", firstByMessages)
	}
	if visible != 1 || count != "1" {
		t.Errorf("filtered by FVO: %d rows visible, count %q; want 1", visible, count)
	}
}

// profileDir is the browser's profile directory. Chromium's helper
// processes may still write to it for a moment after the browser is told to
// close, so it is removed with retries rather than by t.TempDir's strict
// cleanup.
func profileDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "flespi-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}

// TestStatusJSON is the status page's data as scripts read it.
func TestStatusJSON(t *testing.T) {
	ex := startExporter(t, "", nil, "")
	post(t, ex.URL+"/flespi", samples(t), nil)
	post(t, ex.URL+"/flespi", samples(t), nil)
	resp, err := http.Get(ex.URL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep statusReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Devices) != 6 || rep.Devices[4].Ident != "4764252939" || rep.Devices[4].Name != "FVO118" || rep.Devices[4].Messages != 4 {
		t.Errorf("devices: %+v", rep.Devices)
	}
	// The newer of FVO118's two messages is the one shown, though it came first.
	if got := rep.Devices[4].LastMessage.Unix(); got != 1729132951 {
		t.Errorf("FVO118 last message %d, want 1729132951", got)
	}
	if len(rep.Unmapped) != 1 || rep.Unmapped[0].Name != "custom.param.10800" || rep.Unmapped[0].Messages != 2 ||
		rep.Unmapped[0].Devices != 1 || rep.Unmapped[0].Example != "1" || rep.Unmapped[0].Type != "number" {
		t.Errorf("unmapped: %+v", rep.Unmapped)
	}
	var speedHits int64
	for _, r := range rep.Rules {
		if r.Pattern == `match = "position.speed"` {
			speedHits = r.Hits
		}
	}
	if speedHits != 14 { // 7 of the 8 samples have position.speed, posted twice
		t.Errorf("position.speed rule hits = %d, want 14", speedHits)
	}
	if rep.InfluxDB != nil || rep.GaugeSeries == 0 {
		t.Errorf("influxdb %+v, gauge series %d", rep.InfluxDB, rep.GaugeSeries)
	}
}

// TestStatusBounds: the tracker lists at most its caps and counts the rest.
func TestStatusBounds(t *testing.T) {
	s := newStatusTracker()
	b := getBatch()
	defer b.release()
	for i := range maxStatusDevices + 5 {
		b.status = append(b.status, messageStatus{ident: "d" + strings.Repeat("x", i%3) + itoaTest(i), at: time.Unix(int64(i), 0)})
	}
	for i := range maxUnmappedNames + 7 {
		b.unmappedValues = append(b.unmappedValues, unmappedValue{name: "p" + itoaTest(i), raw: []byte("1")})
	}
	b.status[0].end = len(b.unmappedValues)
	m := loadDefault(t).Mapping
	s.record(b, m, time.Now())
	devices, unmapped, _, untrackedDevices, untrackedNames := s.snapshot(m)
	if len(devices) != maxStatusDevices || untrackedDevices != 5 || len(unmapped) != maxUnmappedNames || untrackedNames != 7 {
		t.Errorf("devices %d (+%d), unmapped %d (+%d)", len(devices), untrackedDevices, len(unmapped), untrackedNames)
	}
}

func itoaTest(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestStatusUnmappedCounts: the per-device shortcut for unmapped names
// that repeat counts what counting every value does, whatever the order,
// repeats and changes of names from one message to the next.
func TestStatusUnmappedCounts(t *testing.T) {
	s := newStatusTracker()
	m := loadDefault(t).Mapping
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][]string{{"a", "b"}, {"a", "b"}, {"a"}, {"b", "a"}, {}, {"a", "a"}, {"c", "a", "b"}}
	messages := map[string]int64{}
	devices := map[string]map[string]bool{}
	for range 200 {
		b := getBatch()
		for range 1 + rng.IntN(4) {
			ident := "dev" + itoaTest(rng.IntN(5))
			ms := messageStatus{ident: ident, at: time.Unix(1, 0), unmappedStart: len(b.unmappedValues)}
			for _, name := range shapes[rng.IntN(len(shapes))] {
				b.unmappedValues = append(b.unmappedValues, unmappedValue{name: name, raw: []byte("1")})
				messages[name]++
				if devices[name] == nil {
					devices[name] = map[string]bool{}
				}
				devices[name][ident] = true
			}
			ms.end = len(b.unmappedValues)
			b.status = append(b.status, ms)
		}
		s.record(b, m, time.Now())
		b.release()
	}
	_, unmapped, _, _, _ := s.snapshot(m)
	if len(unmapped) != len(messages) {
		t.Fatalf("%d names, want %d", len(unmapped), len(messages))
	}
	for _, u := range unmapped {
		if u.Messages != messages[u.Name] || u.Devices != len(devices[u.Name]) {
			t.Errorf("%s: %d values from %d devices, want %d from %d", u.Name, u.Messages, u.Devices, messages[u.Name], len(devices[u.Name]))
		}
	}
}
