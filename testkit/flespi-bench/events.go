package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
)

// eventsScenario runs the InfluxDB path with the fleet events off and on
// in turn, in one binary, and reports what the events cost: CPU per
// message and peak RSS per device, the medians of the pairs'. The
// workload carries ignition, positions, speed, mileage and a fuel level
// (with a tank capacity set, so that the fuel detector runs). The reorder
// window is 0s: the replay packs minutes of device time into a second, so
// a window of arrival time would hold every message until the replay ends
// and the detector would run after the measure.
func (b *bench) eventsScenario(w *workload.Workload, messages, devices, batchSize int) {
	off, on := b.configWith("enabled = false\n"), b.configWith("reorder_window = \"0s\"\ntank_capacity = 400\n")
	with := func(config string) func() result {
		return func() result {
			b.config = config
			defer func() { b.config = "" }()
			return b.exporter(w, 1, toInfluxDB)
		}
	}
	var offs, ons []result
	var cpu, rss []float64
	for i := range b.runs {
		// Which goes first alternates: the second run of a pair meets a
		// warmer (or busier) machine.
		var o, n result
		if i%2 == 0 {
			o, n = b.run("events off", i, with(off)), b.run("events on", i, with(on))
		} else {
			n, o = b.run("events on", i, with(on)), b.run("events off", i, with(off))
		}
		offs, ons = append(offs, o), append(ons, n)
		cpu = append(cpu, (cpuOf(n)-cpuOf(o))*1e6)
		rss = append(rss, float64(n.peakRSS-o.peakRSS)/float64(devices))
	}
	mo, mn := medianResult(offs), medianResult(ons)
	mo.name, mn.name = "exporter → InfluxDB, events off", "exporter → InfluxDB, events on"
	report(os.Stdout, []result{mo, mn}, messages, devices, batchSize)
	slices.Sort(cpu)
	slices.Sort(rss)
	fmt.Printf("\nevents on over off: %+.2f µs CPU a message, %+.0f bytes of peak RSS a device (medians of %d back-to-back pairs: CPU %v, RSS %v)\n",
		cpu[len(cpu)/2], rss[len(rss)/2], b.runs, fmtAll(cpu, "%.2f"), fmtAll(rss, "%.0f"))
}

// configWith writes the repository's configuration with an [events]
// section of events, and returns its file.
func (b *bench) configWith(events string) string {
	text, err := os.ReadFile(testexporter.ConfigFile())
	if err != nil {
		b.c.Fatal(err)
	}
	f, err := os.CreateTemp(b.c.TempDir(), "config-*.toml")
	if err != nil {
		b.c.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(text, "\n[events]\n"+events...)); err != nil {
		b.c.Fatal(err)
	}
	return f.Name()
}

func fmtAll(vs []float64, f string) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf(f, v))
	}
	return out
}
