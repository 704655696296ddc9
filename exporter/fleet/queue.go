package fleet

import "slices"

// Queue holds a device's messages for a while by their arrival, and
// hands them to the detector in device-time order: flespi delivers in the
// order it received, so a device's buffered messages arrive after newer
// ones, sometimes newest first.
type Queue struct {
	Held   []Sample // each with its Arrival; by device time unless Mixed
	Passed int64    // device time of the newest message passed; 0: none
	// Mixed says a message came no newer than the newest held: Held is
	// sorted (and a device time's second dropped) when it is released,
	// once, rather than at each message (a buffer of thousands uploaded
	// newest first would cost a move of the whole queue a message).
	Mixed bool
	// Uploaded is the newest Upload of the messages added (Unix seconds).
	// flespi delivers a device's messages in the order it received them:
	// one it delivers later was received by it later, so a message held
	// has nothing more to wait for once flespi has delivered one it
	// received a window after it. A backlog flespi delivers at once after
	// an outage is passed on as it comes, by the clock it was received on,
	// rather than held whole for a window of the exporter's clock.
	Uploaded int64
}

// Add holds s, arrived at arrival (Unix ms). A message older than what was
// passed already is late: it makes no event. One of a device time passed
// already is a duplicate; of a device time held, the first counts (the
// second is dropped when they are released).
func (q *Queue) Add(s Sample, arrival int64) (late, duplicate bool) {
	switch {
	case q.Passed != 0 && s.T < q.Passed:
		return true, false
	case q.Passed != 0 && s.T == q.Passed:
		return false, true
	}
	if n := len(q.Held); n > 0 && s.T <= q.Held[n-1].T {
		q.Mixed = true
	}
	s.Arrival = uint32(max(arrival/1000, 0))
	if s.Upload == 0 || s.Upload > s.Arrival { // not known, or ahead
		s.Upload = s.Arrival
	}
	q.Uploaded = max(q.Uploaded, int64(s.Upload))
	q.Held = append(q.Held, s)
	return false, false
}

// order sorts the held messages by device time, the first of each time
// kept.
func (q *Queue) order() {
	if !q.Mixed {
		return
	}
	slices.SortStableFunc(q.Held, func(a, b Sample) int { return cmp64(a.T, b.T) })
	q.Held = slices.CompactFunc(q.Held, func(a, b Sample) bool { return a.T == b.T })
	q.Mixed = false
}

// Oldest is the device time of the oldest message held; 0: none.
func (q *Queue) Oldest() int64 {
	q.order()
	if len(q.Held) == 0 {
		return 0
	}
	return q.Held[0].T
}

// MaxHeld bounds a device's messages held: past it the oldest go on
// before their window (a device catching up on days of buffer at once
// must not hold them all in memory).
const MaxHeld = 2048

// Release passes to pass, in device-time order, the messages that have
// waited window (ms), from the oldest: by now on the exporter's clock,
// or on the clock flespi received them on (Uploaded). One that arrived
// later but is older holds the newer ones back until it has waited too.
// All, with window < 0.
func (q *Queue) Release(now, window int64, pass func(Sample)) int {
	q.order()
	n := 0
	for n < len(q.Held) && (window < 0 || q.waited(&q.Held[n], now, window) || len(q.Held)-n > MaxHeld) {
		pass(q.Held[n])
		q.Passed = q.Held[n].T
		n++
	}
	if n > 0 {
		q.Held = append(q.Held[:0], q.Held[n:]...)
		if len(q.Held) == 0 {
			// An empty queue keeps no memory: most devices at rest hold
			// nothing, and a burst's buffer is not kept.
			q.Held = nil
		}
	}
	return n
}

// waited reports whether s has waited window (ms) by now, or flespi has
// delivered a message it received window after s.
func (q *Queue) waited(s *Sample, now, window int64) bool {
	return int64(s.Arrival)*1000 <= now-window || int64(s.Upload)*1000 <= q.Uploaded*1000-window
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
