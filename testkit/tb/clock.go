package tb

import (
	"sync"
	"time"
)

// Clock is a clock that tests move by hand; its Now is the clock a
// component under test is given.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at 2024-06-01T00:00:00Z.
func NewClock() *Clock { return &Clock{t: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
