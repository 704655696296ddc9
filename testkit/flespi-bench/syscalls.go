package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// sysEvents are what -syscalls counts of the exporter during a replay:
// the ways a process sleeps and wakes, which on this kind of machine cost
// more than the work between them (BENCHMARKS.md). Tracepoints, so that
// no hardware counter is needed.
var sysEvents = []struct{ event, column string }{
	{"syscalls:sys_enter_nanosleep", "sleeps"}, // nearly all the Go runtime's monitor thread
	{"sched:sched_switch", "switches"},         // the process' threads leaving a processor
	{"syscalls:sys_enter_futex", "futex"},      // a thread put to sleep or woken
	{"syscalls:sys_enter_write", "writes"},
	{"syscalls:sys_enter_read", "reads"},
}

// sysCounter is a perf stat attached to the exporter for one replay.
type sysCounter struct {
	cmd  *exec.Cmd
	file string
}

// countSyscalls attaches perf stat to pid when -syscalls asks for it
// (nil otherwise). perf takes a moment to attach: the replay starts after.
func (b *bench) countSyscalls(pid int) *sysCounter {
	if !b.syscalls {
		return nil
	}
	events := make([]string, len(sysEvents))
	for i, e := range sysEvents {
		events[i] = e.event
	}
	file := filepath.Join(b.c.TempDir(), fmt.Sprintf("perf-stat-%d.csv", pid))
	cmd := exec.Command("perf", "stat", "-x", ",", "-e", strings.Join(events, ","), "-p", strconv.Itoa(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.c.Fatalf("-syscalls needs perf (Debian: apt-get install linux-perf): %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	return &sysCounter{cmd: cmd, file: file}
}

// stop ends the count and returns each event's, per batch of batch of
// the replay's n messages.
func (s *sysCounter) stop(c interface{ Fatalf(string, ...any) }, n, batch int) map[string]float64 {
	if s == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	_ = s.cmd.Wait()
	text, err := os.ReadFile(s.file)
	if err != nil {
		c.Fatalf("perf stat wrote nothing: %v", err)
	}
	counts := map[string]float64{}
	for line := range strings.Lines(string(text)) {
		f := strings.Split(line, ",") // count,unit,event,...
		if len(f) < 3 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			counts[f[2]] = v / (float64(n) / float64(batch))
		}
	}
	for _, e := range sysEvents {
		if _, ok := counts[e.event]; !ok {
			c.Fatalf("perf stat counted no %s (tracepoints need root, or kernel.perf_event_paranoid <= 1):\n%s", e.event, text)
		}
	}
	return counts
}

// medianSys is the median of each event's count of rs.
func medianSys(rs []result) map[string]float64 {
	if rs[0].sys == nil {
		return nil
	}
	m := map[string]float64{}
	for _, e := range sysEvents {
		m[e.event] = medianOf(rs, func(r result) float64 { return r.sys[e.event] })
	}
	return m
}

// printSyscalls writes the counts of the rows that have them.
func printSyscalls(out io.Writer, rows []result, batch int) {
	if !slices.ContainsFunc(rows, func(r result) bool { return r.sys != nil }) {
		return
	}
	fmt.Fprintf(out, "\nsystem calls and context switches a batch of %d messages (perf stat, the replay's; medians):\n", batch)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "scenario\t")
	for _, e := range sysEvents {
		fmt.Fprintf(tw, "%s\t", e.column)
	}
	fmt.Fprintln(tw)
	for _, r := range rows {
		if r.sys == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t", r.name)
		for _, e := range sysEvents {
			fmt.Fprintf(tw, "%.1f\t", r.sys[e.event])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
