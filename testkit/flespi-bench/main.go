// Command flespi-bench measures flespi-exporter end to end on this machine:
// it generates a realistic workload, starts InfluxDB 1.8 and the real
// exporter binary with the real config.toml on loopback, replays the
// workload as flespi streams do, and reports wall time, throughput, the
// exporter's own CPU time per message and peak memory, against the floor of
// writing the same points straight to InfluxDB. See BENCHMARKS.md.
//
//	go run ./testkit/flespi-bench [-messages 100000] [-devices 1000] [-runs 3]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testmqtt"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

func main() {
	messages := flag.Int("messages", 100_000, "messages in the replay workload")
	devices := flag.Int("devices", 1000, "devices in the replay workload")
	batchSize := flag.Int("batch", 500, "messages per batch")
	runs := flag.Int("runs", 3, "runs of each scenario; the table shows medians")
	scrapeDevices := flag.Int("scrape-devices", 13_500, "devices for the /metrics scrape scenario (about 30 gauges each)")
	seed := flag.Uint64("seed", 1, "workload seed")
	profiles := flag.String("profile", "", "directory for a CPU profile (NAME.prof) and a heap profile after the replay (NAME.heap) of the exporter in each run (go tool pprof)")
	memory := flag.Int("memory", 0, "instead of the CPU scenarios, the memory of batches of this many MB: one, then 16 at once")
	onlyMQTT := flag.Bool("mqtt", false, "only the MQTT scenarios (live, and a backlog after an outage) and the HTTP one they compare with")
	onlyRemote := flag.Bool("remote-write", false, "only the remote write scenario (into VictoriaMetrics) and the InfluxDB one it compares with")
	onlyEvents := flag.Bool("events", false, "only the fleet events scenario: events off against on (reorder window 0s, so that the detector runs within the replay) on the InfluxDB path, runs alternating")
	eventsOff := flag.Bool("events-off", false, "this tree's binary with the fleet events off (with -against: for the paths' own cost against a revision without them)")
	againstConfig := flag.String("against-config", "", "with -against: the other binary's configuration file (its revision's config.toml: git show REV:config.toml > FILE)")
	syscalls := flag.Bool("syscalls", false, "count the exporter's system calls and context switches a batch during each replay (perf stat, as root; Debian's linux-perf)")
	sinkDelay := flag.Duration("sink-delay", 0, "the null write API answers each request after this long, as InfluxDB does (about 55 ms a batch here): the exporter's cost of waiting, without InfluxDB's work beside it")
	against := flag.String("against", "", "an exporter binary of another revision: compare this tree's with it on the InfluxDB, Prometheus and MQTT paths, runs alternating")
	flag.Parse()
	if *eventsOff && *onlyEvents {
		fmt.Fprintln(os.Stderr, "flespi-bench: -events-off does not go with -events, which runs the fleet events off and on in turn")
		os.Exit(2)
	}

	c := &tb.Command{}
	defer c.Close()
	if *memory > 0 {
		memoryScenarios(c, *memory, os.Stdout)
		return
	}
	b := &bench{c: c, runs: *runs, profiles: *profiles, syscalls: *syscalls, batch: *batchSize}
	fmt.Fprintf(os.Stderr, "generating %d messages from %d devices...\n", *messages, *devices)
	w := workload.Generate(*messages, *devices, *batchSize, *seed)
	b.db = testinflux.Start(c)
	b.sink = startSink(*sinkDelay)
	defer b.sink.Close()
	b.bin = testexporter.Binary(c)
	lines := encodeLines(c, w.Batches)

	if *eventsOff {
		b.thisConfig = b.configWith("enabled = false\n")
		if *against == "" {
			b.config = b.thisConfig
		}
	}
	var rows []result
	if *onlyRemote {
		b.vm = testprom.StartVictoriaMetrics(c)
		influx, rw := b.paired("exporter → InfluxDB, 1 stream(s)", func() result { return b.exporter(w, 1, toInfluxDB) },
			"exporter → remote write (VictoriaMetrics), 1 stream", func() result { return b.exporter(w, 1, toRemoteWrite) }, cpuOf)
		cpuRatio := rw.ratio
		rw.ratio = 0
		report(os.Stdout, []result{influx, rw}, *messages, *devices, *batchSize)
		fmt.Printf("\nremote write over InfluxDB, CPU per message: %.2f× (median of %d back-to-back pairs)\n", cpuRatio, b.runs)
		return
	}
	if *onlyEvents {
		b.eventsScenario(w, *messages, *devices, *batchSize)
		return
	}
	broker := testmqtt.Start(c, "bench-token")
	msgs := objects(b, w)
	if *against != "" {
		b.otherConfig = *againstConfig
		b.compare(*against, w, broker, msgs, *messages, *devices, *batchSize)
		return
	}
	if *onlyMQTT {
		http, mqtt := b.paired("exporter → InfluxDB, 1 stream(s)", func() result { return b.exporter(w, 1, toInfluxDB) },
			"exporter ← MQTT (mosquitto), QoS 1", func() result { return b.viaMQTT(broker, msgs) }, cpuOf)
		cpuRatio := mqtt.ratio
		mqtt.ratio = 0 // not a floor's
		backlog := b.median("exporter ← MQTT backlog after an outage", func() result { return b.viaMQTTBacklog(broker, msgs) })
		report(os.Stdout, []result{http, mqtt, backlog}, *messages, *devices, *batchSize)
		fmt.Printf("\nMQTT over HTTP, CPU per message: %.2f× (median of %d back-to-back pairs)\n", cpuRatio, b.runs)
		return
	}
	for _, streams := range []int{1, 4} {
		floor, exp := b.paired(
			fmt.Sprintf("direct line protocol, %d stream(s)", streams), func() result {
				return b.direct(lines, streams, len(w.Messages))
			},
			fmt.Sprintf("exporter → InfluxDB, %d stream(s)", streams), func() result {
				return b.exporter(w, streams, toInfluxDB)
			}, wallOf)
		rows = append(rows, floor, exp)
	}
	rows = append(rows, b.median("exporter ← MQTT (mosquitto), QoS 1", func() result { return b.viaMQTT(broker, msgs) }))
	nullName := "exporter → null write API, 1 stream"
	if *sinkDelay > 0 {
		nullName = fmt.Sprintf("exporter → null write API answering after %s, 1 stream", *sinkDelay)
	}
	rows = append(rows, b.median(nullName, func() result {
		return b.exporter(w, 1, toSink)
	}))
	rows = append(rows, b.median("exporter, Prometheus only, 1 stream", func() result {
		return b.exporter(w, 1, toNone)
	}))
	scrape := workload.Generate(*scrapeDevices, *scrapeDevices, *batchSize, *seed+1)
	rows = append(rows, b.median(fmt.Sprintf("scrape: %d devices, Prometheus only", *scrapeDevices), func() result {
		return b.exporter(scrape, 4, toNone)
	}))
	report(os.Stdout, rows, *messages, *devices, *batchSize)
}

type bench struct {
	c        *tb.Command
	db       *testinflux.Server
	vm       *testprom.Server // the remote write receiver, with -remote-write
	sink     *sink
	bin      string
	runs     int
	profiles string // directory for CPU and heap profiles; "" for none
	profile  string // the CPU profile file of the run going on
	syscalls bool   // -syscalls: perf stat each replay
	batch    int    // messages a batch, for -syscalls' counts a batch
	config   string // the exporter's configuration file; "" for the repository's
	// thisConfig is the configuration of this tree's binary in -against
	// (-events-off); "" for the repository's.
	thisConfig string
	// otherConfig is the configuration of the other revision's binary in
	// -against (-against-config): an older binary refuses keys it does
	// not know.
	otherConfig string
}

// start runs the exporter with env and args, and the configuration file
// in use.
func (b *bench) start(env map[string]string, args []string) *testexporter.Process {
	if b.config != "" {
		return testexporter.StartConfig(b.c, b.config, env, args...)
	}
	return testexporter.Start(b.c, env, args...)
}

// result is one scenario's figures.
type result struct {
	name      string
	messages  int
	wall      time.Duration
	cpu       time.Duration // the exporter process' user+system time
	peakRSS   int64         // bytes
	ratio     float64       // wall time over the direct-write floor's, the median of pairs
	scrape    time.Duration
	series    int
	hasExport bool
	sys       map[string]float64 // -syscalls: each event's count a batch
}

// median runs f b.runs times and reports the median of each figure.
func (b *bench) median(name string, f func() result) result {
	var rs []result
	for i := range b.runs {
		rs = append(rs, b.run(name, i, f))
	}
	return medianResult(rs)
}

// paired runs the floor and the exporter in turn, b.runs times each, and
// reports the median of each figure and, as the exporter's ratio, the
// median of the ratios of the pairs' measure: this machine's speed drifts
// from one minute to the next, and a pair run back to back sees the same
// machine.
func (b *bench) paired(floorName string, floor func() result, name string, f func() result, measure func(result) float64) (result, result) {
	var fs, rs []result
	var ratios []float64
	for i := range b.runs {
		fr, r := b.run(floorName, i, floor), b.run(name, i, f)
		fs, rs = append(fs, fr), append(rs, r)
		ratios = append(ratios, measure(r)/measure(fr))
	}
	m := medianResult(rs)
	slices.Sort(ratios)
	m.ratio = ratios[len(ratios)/2]
	return medianResult(fs), m
}

func wallOf(r result) float64 { return r.wall.Seconds() }

// cpuOf is the CPU per message.
func cpuOf(r result) float64 { return r.cpu.Seconds() / float64(r.messages) }

// profileArgs are the exporter's arguments that profile the run going on:
// its CPU, and the heap it holds once the replay is over (this tree's
// binary only: an older one may not know -memprofile).
func (b *bench) profileArgs() []string {
	if b.profile == "" {
		return nil
	}
	args := []string{"-cpuprofile", b.profile}
	if testexporter.Binary(b.c) == b.bin {
		args = append(args, "-memprofile", strings.TrimSuffix(b.profile, ".prof")+".heap")
	}
	return args
}

// run is run i of a scenario.
func (b *bench) run(name string, i int, f func() result) result {
	fmt.Fprintf(os.Stderr, "%s: run %d/%d\n", name, i+1, b.runs)
	b.profile = ""
	if b.profiles != "" {
		b.profile = filepath.Join(b.profiles, fmt.Sprintf("%s-%d.prof", slug(name), i+1))
	}
	r := f()
	r.name = name
	return r
}

// medianResult is the median of each figure of rs.
func medianResult(rs []result) result {
	m := rs[0]
	m.wall = medianOf(rs, func(r result) time.Duration { return r.wall })
	m.cpu = medianOf(rs, func(r result) time.Duration { return r.cpu })
	m.peakRSS = medianOf(rs, func(r result) int64 { return r.peakRSS })
	m.scrape = medianOf(rs, func(r result) time.Duration { return r.scrape })
	m.sys = medianSys(rs)
	return m
}

// medianOf is the median of one figure of rs.
func medianOf[T int64 | time.Duration | float64](rs []result, figure func(result) T) T {
	v := make([]T, len(rs))
	for i, r := range rs {
		v[i] = figure(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// slug makes a file name of a scenario name.
func slug(name string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(name)), "-")
}

// resetDB empties the test database, so that every run writes to a fresh one.
func (b *bench) resetDB() {
	b.db.Query("DROP DATABASE " + testinflux.Database)
	b.db.Query("CREATE DATABASE " + testinflux.Database)
}

// checkStored fails the benchmark unless every message is a point.
func (b *bench) checkStored(want int) {
	if n := b.db.Count("flespi", "position.speed"); n != want {
		b.c.Fatalf("%d points in InfluxDB after the replay, want %d", n, want)
	}
}

// output is where the exporter writes its points.
type output int

const (
	toNone        output = iota // no InfluxDB output: Prometheus only
	toInfluxDB                  // the test InfluxDB
	toSink                      // the null write API: the same requests, nothing stored
	toRemoteWrite               // remote write into VictoriaMetrics, no InfluxDB
)

// exporter replays w through a fresh exporter process over streams streams.
func (b *bench) exporter(w *workload.Workload, streams int, out output) result {
	url := ""
	switch out {
	case toInfluxDB:
		b.resetDB()
		url = b.db.URL
	case toSink:
		b.sink.lines.Store(0)
		url = b.sink.URL
	}
	env := map[string]string{}
	if url != "" {
		env = map[string]string{"INFLUXDB_URL": url, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token}
	}
	if out == toRemoteWrite {
		env = map[string]string{"INFLUXDB_URL": "", "REMOTE_WRITE_URL": b.vm.URL + "/api/v1/write"}
	}
	p := b.start(env, b.profileArgs())
	defer p.Kill()
	pid := p.Cmd.Process.Pid
	sc := b.countSyscalls(pid)
	cpuBefore, _ := procStats(b.c, pid) // start-up is not the replay's
	start := time.Now()
	if err := workload.Replay("http://"+p.Addr+"/flespi", w.Batches, streams); err != nil {
		b.c.Fatal(err)
	}
	r := result{messages: len(w.Messages), wall: time.Since(start), hasExport: true}
	cpuAfter, _ := procStats(b.c, pid)
	r.cpu = cpuAfter - cpuBefore
	r.sys = sc.stop(b.c, r.messages, b.batch)
	switch out {
	case toInfluxDB:
		b.checkStored(len(w.Messages))
	case toSink:
		if n := b.sink.lines.Load(); n != int64(len(w.Messages)) {
			b.c.Fatalf("%d lines reached the null write API, want %d", n, len(w.Messages))
		}
	case toRemoteWrite:
		metrics := "http://" + p.InternalAddr + "/metrics"
		if sent, refused := testexporter.MetricValue(b.c, metrics, "flespi_exporter_remote_write_samples_total"),
			testexporter.MetricValue(b.c, metrics, "flespi_exporter_remote_write_samples_refused_total"); sent < float64(len(w.Messages)) || refused > 0 {
			b.c.Fatalf("remote write: %v samples sent, %v refused, for %d messages", sent, refused, len(w.Messages))
		}
	}
	r.scrape, r.series = scrapeMetrics(b.c, "http://"+p.InternalAddr+"/metrics")
	_, r.peakRSS = procStats(b.c, pid) // the peak of the whole run, scrape included
	if b.profile != "" {
		_ = p.Stop() // writes the profile
	}
	return r
}

// direct writes ready-made line protocol straight to InfluxDB, with the
// same batches and concurrency: the database's own limit, our floor.
func (b *bench) direct(lines [][]byte, streams, messages int) result {
	b.resetDB()
	url := b.db.URL + "/api/v2/write?bucket=" + testinflux.Bucket + "&precision=ns"
	start := time.Now()
	var wg sync.WaitGroup
	for k := range streams {
		wg.Go(func() {
			client := &http.Client{}
			for i := k; i < len(lines); i += streams {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(lines[i]))
				req.Header.Set("Authorization", "Token "+testinflux.Token)
				resp, err := client.Do(req)
				if err != nil {
					b.c.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.c.Fatalf("direct write: %s", resp.Status)
				}
			}
		})
	}
	wg.Wait()
	r := result{messages: messages, wall: time.Since(start)}
	b.checkStored(messages)
	return r
}

// sink serves InfluxDB's write API and keeps nothing, only counting the
// messages' lines: the exporter makes the same requests as to InfluxDB,
// without InfluxDB working on the same two vCPUs meanwhile, which tells the
// exporter's own cost of the InfluxDB output from what InfluxDB's company
// adds to it. With a delay, it answers each write that long after reading
// it: the exporter waits as for InfluxDB, and the machine idles meanwhile.
type sink struct {
	*httptest.Server
	lines atomic.Int64 // of the messages' measurement; the fleet events' are not counted
}

func startSink(delay time.Duration) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/write" {
			body, _ := io.ReadAll(r.Body)
			s.lines.Add(int64(countLines(body, "flespi,")))
			time.Sleep(delay)
		}
		w.WriteHeader(http.StatusNoContent) // also the answer to /ping
	}))
	return s
}

// countLines counts the lines of body that begin with prefix.
func countLines(body []byte, prefix string) int {
	n := 0
	for line := range bytes.Lines(body) {
		if bytes.HasPrefix(line, []byte(prefix)) {
			n++
		}
	}
	return n
}

// encodeLines maps every batch with the default rules into line protocol.
func encodeLines(c *tb.Command, batches [][]byte) [][]byte {
	cfg, err := config.Load("config.toml")
	if err != nil {
		c.Fatal(err)
	}
	dec := message.NewDecoder()
	var res mapping.Result
	out := make([][]byte, len(batches))
	now := time.Now()
	for i, batch := range batches {
		err := dec.Decode(batch, func(m *message.Message) error {
			if err := cfg.Mapping.Apply(m, now, &res); err != nil {
				return err
			}
			for j := range res.Points {
				out[i] = influx.AppendPoint(out[i], &res.Points[j])
			}
			return nil
		})
		if err != nil {
			c.Fatal(err)
		}
	}
	return out
}

// scrapeMetrics times one scrape as Prometheus makes it (gzip) and counts
// the device series.
func scrapeMetrics(c *tb.Command, url string) (time.Duration, int) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		c.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	resp, err = http.Get(url)
	if err != nil {
		c.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	series := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "flespi_") && !strings.HasPrefix(line, "flespi_exporter_") {
			series++
		}
	}
	return took, series
}

// procStats reads a process' CPU time (user + system) and peak resident
// memory from /proc.
func procStats(c *tb.Command, pid int) (time.Duration, int64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		c.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	const clockTicks = 100 // USER_HZ on Linux
	cpu := time.Duration(utime+stime) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		c.Fatal(err)
	}
	var peak int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &peak)
		}
	}
	return cpu, peak * 1024
}

func report(out io.Writer, rows []result, messages, devices, batch int) {
	fmt.Fprintf(out, "flespi-bench: %d messages from %d devices, batches of %d; %d cores, %s; medians\n\n",
		messages, devices, batch, runtime.NumCPU(), runtime.Version())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmessages\twall\tmsg/s\tCPU µs/msg\tpeak RSS MB\t× floor\tscrape\tseries\t")
	for _, r := range rows {
		cpu, rss, ratio, scrape, series := "-", "-", "-", "-", "-"
		if r.hasExport {
			cpu = fmt.Sprintf("%.2f", float64(r.cpu.Microseconds())/float64(r.messages))
			rss = fmt.Sprintf("%.0f", float64(r.peakRSS)/(1<<20))
			scrape = r.scrape.Round(time.Millisecond).String()
			series = fmt.Sprint(r.series)
		}
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.messages, r.wall.Round(time.Millisecond),
			float64(r.messages)/r.wall.Seconds(), cpu, rss, ratio, scrape, series)
	}
	tw.Flush()
	printSyscalls(out, rows, batch)
}

// compare runs each path with the other revision's binary and this
// tree's in turn (old, new, old, ...) and reports the ratio of CPU per
// message, the median of the pairs'.
func (b *bench) compare(old string, w *workload.Workload, broker *testmqtt.Broker, msgs [][]byte, messages, devices, batchSize int) {
	with := func(bin string, f func() result) func() result {
		return func() result {
			testexporter.UseBinary(bin)
			defer testexporter.UseBinary(b.bin)
			switch {
			case bin == b.bin && b.thisConfig != "":
				b.config = b.thisConfig // this tree's binary only: the other may not know its keys
			case bin != b.bin && b.otherConfig != "":
				b.config = b.otherConfig // the other revision's own configuration
			}
			defer func() { b.config = "" }()
			return f()
		}
	}
	var rows []result
	var ratios []string
	for _, path := range []struct {
		name string
		run  func() result
	}{
		{"exporter → InfluxDB, 1 stream", func() result { return b.exporter(w, 1, toInfluxDB) }},
		{"exporter, Prometheus only, 1 stream", func() result { return b.exporter(w, 1, toNone) }},
		{"exporter ← MQTT (mosquitto), QoS 1", func() result { return b.viaMQTT(broker, msgs) }},
	} {
		o, n := b.paired(path.name+" (against)", with(old, path.run), path.name+" (this tree)", with(b.bin, path.run), cpuOf)
		ratios = append(ratios, fmt.Sprintf("%s: %.3f×", path.name, n.ratio))
		n.ratio = 0
		rows = append(rows, o, n)
	}
	report(os.Stdout, rows, messages, devices, batchSize)
	fmt.Printf("\nthis tree over %s, CPU per message (median of %d back-to-back pairs):\n  %s\n", old, b.runs, strings.Join(ratios, "\n  "))
}
