package fleet

import "slices"

// Queue holds a device's messages for a while by their arrival, and
// hands them to the detector in device-time order: flespi delivers in the
// order it received, so a device's buffered messages arrive after newer
// ones, sometimes newest first.
type Queue struct {
	Held   []Sample // by device time, each with its Arrival
	Passed int64    // device time of the newest message passed; 0: none
}

// Add holds s, arrived at arrival (Unix ms). A message older than what was passed
// already is late: it makes no event. One of a device time held or passed
// already is a duplicate (the first counts).
func (q *Queue) Add(s Sample, arrival int64) (late, duplicate bool) {
	switch {
	case q.Passed != 0 && s.T < q.Passed:
		return true, false
	case q.Passed != 0 && s.T == q.Passed:
		return false, true
	}
	i, found := slices.BinarySearchFunc(q.Held, s.T, func(h Sample, t int64) int { return cmp64(h.T, t) })
	if found {
		return false, true
	}
	s.Arrival = uint32(max(arrival/1000, 0))
	q.Held = slices.Insert(q.Held, i, s)
	return false, false
}

// Release passes to pass, in device-time order, the messages that have
// waited window (ms) by now, from the oldest: one that arrived later but
// is older holds the newer ones back until it has waited too. All, with
// window < 0.
func (q *Queue) Release(now, window int64, pass func(Sample)) int {
	n := 0
	for n < len(q.Held) && (window < 0 || int64(q.Held[n].Arrival)*1000 <= now-window) {
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

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
