package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// memoryScenarios measure what large batches cost in memory: the peak RSS
// of a Prometheus-only exporter (no InfluxDB, so that the figure is the
// exporter's alone) after one batch of mb megabytes, then after 16 such
// batches posted at once.
func memoryScenarios(c *tb.Command, mb int, out io.Writer) {
	// 10 devices: the gauges stay few, and the figure is the batch's.
	msgs := mb << 20 / 1060
	w := workload.Generate(msgs, 10, msgs, 7)
	body := w.Batches[0]
	fmt.Fprintf(os.Stderr, "memory: one batch of %.1f MB (%d messages)\n", float64(len(body))/(1<<20), msgs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tbody MB\tanswers\twall\tpeak RSS MB\tRSS per body MB\t")
	for _, concurrent := range []int{1, 16} {
		p := testexporter.Start(c, map[string]string{"INFLUXDB_URL": ""})
		_, idle := procStats(c, p.Cmd.Process.Pid)
		start := time.Now()
		answers := postConcurrently("http://"+p.Addr+"/flespi", body, concurrent)
		wall := time.Since(start)
		_, peak := procStats(c, p.Cmd.Process.Pid)
		p.Kill()
		fmt.Fprintf(tw, "%d batch(es) at once\t%.1f\t%s\t%v\t%.0f\t%.1f\t\n", concurrent, float64(len(body))/(1<<20), answers,
			wall.Round(time.Millisecond), float64(peak)/(1<<20), float64(peak-idle)/float64(len(body)))
	}
	tw.Flush()
}

// postConcurrently posts body n times at once and counts the answers by
// status code.
func postConcurrently(url string, body []byte, n int) string {
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code := 0
			if resp, err := http.Post(url, "application/json", bytes.NewReader(body)); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	s := ""
	for _, code := range []int{200, 413, 503, 0} {
		if codes[code] > 0 {
			s += fmt.Sprintf("%d×%d ", codes[code], code)
		}
	}
	return s
}
