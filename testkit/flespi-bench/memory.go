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
	"github.com/flespi-exporter/flespi-exporter/testkit/testmqtt"
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
	mqttMemory(c, mb, tw)
	tw.Flush()
}

// mqttMemory publishes 30 MQTT messages of mb MB each (at most 15, under
// the default mqtt.max_packet_size of 16 MiB) to mosquitto while InfluxDB
// is down: the source holds the batch it retries and an inbox, each
// bounded by mqtt.batch_bytes (32 MiB), and leaves the rest with the
// broker. Before that bound, 30 messages of 50 MB took 5.76 GB.
func mqttMemory(c *tb.Command, mb int, tw io.Writer) {
	const n = 30
	size := min(mb, 15) << 20
	broker := testmqtt.Start(c, "BenchToken0123456789")
	p := testexporter.Start(c, map[string]string{
		"INFLUXDB_URL": "http://127.0.0.1:9", "INFLUXDB_BUCKET": "db", // nothing listens: down
		"FLESPI_TOKEN": broker.Token, "FLESPI_MQTT_URL": broker.URL, "FLESPI_MQTT_CLIENT_ID": "bench-memory",
	})
	defer p.Kill()
	metrics := "http://" + p.InternalAddr + "/metrics"
	for deadline := time.Now().Add(30 * time.Second); testexporter.MetricValue(c, metrics, "flespi_exporter_mqtt_connected") != 1; {
		if time.Now().After(deadline) {
			c.Fatal("the exporter did not connect to mosquitto")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, idle := procStats(c, p.Cmd.Process.Pid)
	pad := bytes.Repeat([]byte("x"), size)
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = fmt.Appendf(nil, `{"ident":"big","timestamp":%d,"position.speed":%d,"pad":"%s"}`, 1765200000+i, i, pad)
	}
	start := time.Now()
	broker.Publish("flespi/message/gw/devices/1", msgs...)
	// Until the source takes no more in: it holds what its bounds allow.
	received, since := -1.0, time.Now()
	for time.Since(since) < 3*time.Second {
		if r := testexporter.MetricValue(c, metrics, "flespi_exporter_mqtt_messages_received_total"); r != received {
			received, since = r, time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, peak := procStats(c, p.Cmd.Process.Pid)
	fmt.Fprintf(tw, "%d MQTT messages, InfluxDB down\t%.1f each\t%.0f taken in\t%v\t%.0f\t%.1f\t\n", n, float64(size)/(1<<20), received,
		time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20), float64(peak-idle)/float64(size))
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
