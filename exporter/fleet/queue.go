package fleet

import "slices"

// Queue holds a device's messages for a while by their arrival, and
// hands them to the detector in device-time order: flespi delivers in the
// order it received, so a device's buffered messages arrive after newer
// ones, sometimes newest first.
type Queue struct {
	Held   []Held // by device time
	Passed int64  // device time of the newest message passed; 0: none
}

// Held is a message waiting, with its arrival (Unix ms).
type Held struct {
	Sample
	Arrival int64
}

// Add holds s, arrived at arrival. A message older than what was passed
// already is late: it makes no event. One of a device time held or passed
// already is a duplicate (the first counts).
func (q *Queue) Add(s Sample, arrival int64) (late, duplicate bool) {
	switch {
	case q.Passed != 0 && s.T < q.Passed:
		return true, false
	case q.Passed != 0 && s.T == q.Passed:
		return false, true
	}
	i, found := slices.BinarySearchFunc(q.Held, s.T, func(h Held, t int64) int { return cmp64(h.T, t) })
	if found {
		return false, true
	}
	q.Held = slices.Insert(q.Held, i, Held{Sample: s, Arrival: arrival})
	return false, false
}

// Release passes to pass, in device-time order, the messages that have
// waited window (ms) by now, from the oldest: one that arrived later but
// is older holds the newer ones back until it has waited too. All, with
// window < 0.
func (q *Queue) Release(now, window int64, pass func(Sample)) int {
	n := 0
	for n < len(q.Held) && (window < 0 || q.Held[n].Arrival <= now-window) {
		pass(q.Held[n].Sample)
		q.Passed = q.Held[n].T
		n++
	}
	if n > 0 {
		q.Held = append(q.Held[:0], q.Held[n:]...)
		if len(q.Held) == 0 && cap(q.Held) > 64 {
			q.Held = nil // a burst's memory is not kept
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
