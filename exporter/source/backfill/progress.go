package backfill

import (
	"fmt"
	"io"
	"time"
)

// progress shows how an import goes: on a terminal one line rewritten in
// place at most every 200 ms, else a plain line every 5 seconds.
type progress struct {
	w        io.Writer
	terminal bool
	file     string
	total    int
	start    time.Time
	startAt  int // messages done before this run
	last     time.Time
	done     int
}

func newProgress(w io.Writer, terminal bool, file string, total, done int) *progress {
	now := time.Now()
	return &progress{w: w, terminal: terminal, file: file, total: total, start: now, startAt: done, done: done}
}

func (p *progress) update(done int) {
	p.done = done
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	p.print()
}

func (p *progress) print() {
	elapsed := time.Since(p.start).Seconds()
	rate := float64(p.done-p.startAt) / max(elapsed, 1e-3)
	eta := "-"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	line := fmt.Sprintf("%s: %d/%d messages (%.0f%%), %.0f msg/s, ETA %s", p.file, p.done, p.total, pct, rate, eta)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish prints the last state, and ends the terminal line.
func (p *progress) finish(ok bool) {
	p.print()
	if p.terminal {
		fmt.Fprintln(p.w)
	}
	if !ok {
		fmt.Fprintf(p.w, "%s: stopped after message %d of %d\n", p.file, p.done, p.total)
	}
}
