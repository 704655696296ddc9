// Package retry is the one policy for trying again what may pass: an
// InfluxDB write that failed, a batch held while no store takes it, a
// broker that refused a connection. Each caller says how many tries and
// how long the waits; the waits double from First up to Max.
package retry

import (
	"context"
	"time"
)

// Policy says how often and after what waits something is tried.
type Policy struct {
	First time.Duration // the wait after the first failure
	Max   time.Duration // the longest wait; First when zero
	Tries int           // tries in all; 0: until the context ends
}

// Wait is the pause after the failure of try number attempt (1 for the
// first): First, doubled each time, at most Max.
func (p Policy) Wait(attempt int) time.Duration {
	if attempt < 1 {
		return 0
	}
	limit := max(p.Max, p.First)
	w := p.First
	for i := 1; i < attempt && w < limit; i++ {
		w *= 2
	}
	return min(w, limit)
}

// Sleep waits the pause after try attempt, and reports false when ctx
// ended first.
func (p Policy) Sleep(ctx context.Context, attempt int) bool {
	t := time.NewTimer(p.Wait(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Failed is told of each failed try that will be tried again: which it
// was, its error and the wait before the next.
type Failed func(attempt int, err error, wait time.Duration)

// Do calls try until it succeeds, its error is not worth another try
// (again reports false), the tries are spent or ctx ends, and returns the
// last error. again nil retries every error; failed may be nil.
func (p Policy) Do(ctx context.Context, try func() error, again func(error) bool, failed Failed) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || (again != nil && !again(err)) || (p.Tries > 0 && attempt >= p.Tries) || ctx.Err() != nil {
			return err
		}
		if failed != nil {
			failed(attempt, err, p.Wait(attempt))
		}
		if !p.Sleep(ctx, attempt) {
			return err
		}
	}
}
