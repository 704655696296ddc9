//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestStatusPageInBrowser opens the status page in a real headless
// Chromium after the samples are posted: it lists the devices and the
// unmapped parameters with a rule suggestion, and the filter works. The
// screenshot is written to $ARTIFACTS_DIR (the temporary directory when
// unset).
func TestStatusPageInBrowser(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	ex.PostSamples(t)
	// An ident of the longest kept (256 bytes) must not push the columns
	// off the screen.
	long := `[{"ident":"` + strings.Repeat("L", 256) + `","timestamp":1717171200,"custom.other.1":1}]`
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(long), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	ctx, scriptErrors := openBrowser(t, 1200, 1600)

	var rows, visible int
	var identWidth, pageWidth, windowWidth float64
	var unmapped, suggested, count, firstByMessages, firstUnmapped, firstRuleBefore, firstRuleAfter string
	var png []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(ex.InternalURL+"/"),
		chromedp.WaitVisible("#devices", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#devices tbody tr').length`, &rows),
		chromedp.Text("#unmapped tbody", &unmapped, chromedp.ByQuery),
		chromedp.Text("#suggestions tbody", &suggested, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100), // 100: PNG,
		// Sort by messages, most first: two devices sent two messages. The
		// list comes from api/devices: each answer numbers data-loaded.
		chromedp.Click(`#devices th:nth-child(7)`, chromedp.ByQuery),
		chromedp.WaitVisible(`#devices[data-loaded="1"]`, chromedp.ByQuery),
		chromedp.Click(`#devices th:nth-child(7)`, chromedp.ByQuery),
		chromedp.WaitVisible(`#devices[data-loaded="2"]`, chromedp.ByQuery),
		chromedp.Text(`#devices tbody tr:first-child td:nth-child(7)`, &firstByMessages, chromedp.ByQuery),
		chromedp.SendKeys("#filter", "FVO", chromedp.ByQuery),
		chromedp.WaitVisible(`#devices[data-loaded="5"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#devices tbody tr').length`, &visible),
		chromedp.Text("#device-count", &count, chromedp.ByQuery),
		chromedp.Evaluate(`Math.max(...Array.from(document.querySelectorAll('#devices td.cut')).map(td => td.getBoundingClientRect().width))`, &identWidth),
		chromedp.Evaluate(`document.querySelector('#devices').getBoundingClientRect().width`, &pageWidth),
		chromedp.Evaluate(`window.innerWidth`, &windowWidth),
		// The other tables sort by their own columns: by name, backwards.
		chromedp.Click(`#unmapped th:nth-child(1)`, chromedp.ByQuery),
		chromedp.Click(`#unmapped th:nth-child(1)`, chromedp.ByQuery),
		chromedp.Text(`#unmapped tbody tr:first-child td:nth-child(1)`, &firstUnmapped, chromedp.ByQuery),
		chromedp.Text(`#rules tbody tr:first-child td:nth-child(1)`, &firstRuleBefore, chromedp.ByQuery),
		chromedp.Click(`#rules th:nth-child(4)`, chromedp.ByQuery),
		chromedp.Click(`#rules th:nth-child(4)`, chromedp.ByQuery),
		chromedp.Text(`#rules tbody tr:first-child td:nth-child(1)`, &firstRuleAfter, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "flespi-exporter-status.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s", shot)
	if rows != 7 {
		t.Errorf("%d device rows, want the 6 idents of the samples and the long one", rows)
	}
	if errs := scriptErrors(); len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
	if identWidth > 400 || pageWidth > windowWidth {
		t.Errorf("the 10 KB ident's cell is %.0f px wide, the devices table %.0f px in a %.0f px window", identWidth, pageWidth, windowWidth)
	}
	if firstUnmapped != "custom.param.10800" {
		t.Errorf("unmapped sorted by name, backwards: first %q", firstUnmapped)
	}
	if firstRuleBefore != "1" || firstRuleAfter == "1" {
		t.Errorf("rules sorted by matches: first rule #%s, before #%s", firstRuleAfter, firstRuleBefore)
	}
	if !strings.Contains(unmapped, "custom.param.10800") || !strings.Contains(suggested, `match = "custom.param.*"`) {
		t.Errorf("unmapped parameters table:\n%s\nsuggestions:\n%s", unmapped, suggested)
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

// openBrowser starts a headless Chromium with a window of width x height
// until the test ends, and returns its context and the script errors its
// pages threw so far.
func openBrowser(t *testing.T, width, height int) (context.Context, func() []string) {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run the tests with scripts/test.sh, which installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profileDir(t)), chromedp.WindowSize(width, height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // close the browser and wait for it
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	var scriptErrors []string
	var mu sync.Mutex
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			mu.Lock()
			scriptErrors = append(scriptErrors, e.ExceptionDetails.Error())
			mu.Unlock()
		}
	})
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(scriptErrors)
	}
}

// TestStatusPageWith100kDevices: with 100,000 devices registered the page
// stays under 1 MB of HTML, what needs attention is above the fold of a
// laptop's window, and the filter finds a device among them all through
// api/devices.
func TestStatusPageWith100kDevices(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	const devices, perBatch = 100_000, 10_000
	for start := 0; start < devices; start += perBatch {
		var body strings.Builder
		body.WriteString("[")
		for i := start; i < start+perBatch; i++ {
			if i > start {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"ident":"dev%06d","timestamp":1717171200,"position.speed":%d,"custom.thing":1}`, i, i%90)
		}
		body.WriteString("]")
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(body.String()), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	page := testexporter.Get(t, ex.InternalURL+"/")
	if len(page) >= 1<<20 {
		t.Errorf("the status page is %d bytes of HTML with %d devices, want under 1 MB", len(page), devices)
	}
	t.Logf("status page: %d bytes of HTML with %d devices", len(page), devices)

	ctx, scriptErrors := openBrowser(t, 1280, 800)
	var attentionTop, windowHeight float64
	var attention, count, first string
	var rows int
	err := chromedp.Run(ctx,
		chromedp.Navigate(ex.InternalURL+"/"),
		chromedp.WaitVisible("#attention", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#attention li').getBoundingClientRect().bottom`, &attentionTop),
		chromedp.Evaluate(`window.innerHeight`, &windowHeight),
		chromedp.Text("#attention", &attention, chromedp.ByQuery),
		chromedp.SendKeys("#filter", "dev099999", chromedp.ByQuery),
		chromedp.WaitVisible(`#devices[data-loaded="9"]`, chromedp.ByQuery),
		chromedp.Text("#device-count", &count, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#devices tbody tr').length`, &rows),
		chromedp.Text(`#devices tbody tr:first-child td:first-child`, &first, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if attentionTop <= 0 || attentionTop > windowHeight {
		t.Errorf("the first attention item ends at %.0f px, below the fold of a %.0f px window", attentionTop, windowHeight)
	}
	if !strings.Contains(attention, "custom.thing") && !strings.Contains(attention, "1 parameter has no rule") {
		t.Errorf("attention items: %q", attention)
	}
	if count != "1" || rows != 1 || first != "dev099999" {
		t.Errorf("filtered by dev099999: count %q, %d rows, first %q", count, rows, first)
	}
	if errs := scriptErrors(); len(errs) > 0 {
		t.Errorf("script errors: %v", errs)
	}
}

// TestStatusPageMarksSilent: silent devices in plain sight, on a desktop
// (1280×800) and a phone (390×844): the count of devices silent past
// their own silence and the attention entry naming them are on the first
// screen; the device table lists the most overdue first (a trailer gone 3
// days, then a van 20 minutes past its 15, before a truck parked as usual
// and a fresh device), each silent row marked ("3d silent") with its
// threshold in a column, not a tooltip; "silent only" keeps the two.
func TestStatusPageMarksSilent(t *testing.T) {
	dir := t.TempDir()
	ago := func(d time.Duration) int64 { return time.Now().Add(-d).UnixNano() }
	registry := fmt.Sprintf(`{"version":1,"devices":[
{"ident":"gone","name":"Trailer 3","last_message_ns":%d,"last_received_ns":%d},
{"ident":"van","name":"Van 7","last_message_ns":%d,"last_received_ns":%d},
{"ident":"truck","name":"Truck 2","last_message_ns":%d,"last_received_ns":%d,"gaps_parked":[3600,3600,3600]}]}`,
		ago(72*time.Hour), ago(72*time.Hour), ago(20*time.Minute), ago(20*time.Minute), ago(30*time.Minute), ago(30*time.Minute))
	if err := os.WriteFile(filepath.Join(dir, "devices.json"), []byte(registry), 0o600); err != nil {
		t.Fatal(err)
	}
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.Data.Dir = dir })
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"fresh","timestamp":1717171200}]`), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	for _, size := range [][2]int{{1280, 800}, {390, 844}} {
		ctx, scriptErrors := openBrowser(t, size[0], size[1])
		var silent, first, onlySilent []string
		var count, entry string
		var countBottom, entryBottom float64
		err := chromedp.Run(ctx,
			chromedp.Navigate(ex.InternalURL+"/"),
			chromedp.WaitVisible("#devices", chromedp.ByQuery),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('#devices tr.silent')).map(tr => tr.textContent)`, &silent),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('#devices tbody tr')).slice(0, 2).map(tr => tr.cells[0].textContent)`, &first),
			chromedp.Evaluate(`document.querySelector('#silent-card b').textContent`, &count),
			chromedp.Evaluate(`document.querySelector('#silent-card').getBoundingClientRect().bottom`, &countBottom),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('#attention li')).map(li => li.textContent).find(t => t.includes('silent past')) || ''`, &entry),
			chromedp.Evaluate(`(Array.from(document.querySelectorAll('#attention li')).find(li => li.textContent.includes('silent past')) || document.body).getBoundingClientRect().bottom`, &entryBottom),
			chromedp.Click("#silent-only", chromedp.ByQuery),
			chromedp.Sleep(500*time.Millisecond),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('#devices tbody tr')).map(tr => tr.cells[0].textContent)`, &onlySilent),
		)
		if err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprintf("%dx%d", size[0], size[1])
		if len(silent) != 2 || !strings.Contains(silent[0], "3d silent") || !strings.Contains(silent[1], "15m") {
			t.Errorf("%s: rows marked silent %q, want the trailer (3d silent) and the van, with their thresholds", at, silent)
		}
		if strings.Join(first, " ") != "gone van" {
			t.Errorf("%s: the table starts with %v, want the most overdue: gone, van", at, first)
		}
		if count != "2" || countBottom > float64(size[1]) {
			t.Errorf("%s: the silent count %q ends at %vpx, want 2 on the first screen", at, count, countBottom)
		}
		if !strings.Contains(entry, "2 devices are silent past their own silence: Trailer 3 (gone)") || entryBottom > float64(size[1]) {
			t.Errorf("%s: the attention entry %q ends at %vpx, want it naming them on the first screen", at, entry, entryBottom)
		}
		if strings.Join(onlySilent, " ") != "gone van" {
			t.Errorf("%s: silent only lists %v", at, onlySilent)
		}
		if errs := scriptErrors(); len(errs) > 0 {
			t.Errorf("%s: script errors: %v", at, errs)
		}
	}
}
