package fleet

import (
	"testing"
	"unsafe"
)

// TestQueueBurstNewestFirst: a buffer uploaded newest first, with a
// message sent twice, comes out in device-time order, each time once
// (the first of two), and a message older than what was passed is late.
func TestQueueBurstNewestFirst(t *testing.T) {
	var q Queue
	const n = 100_000
	for i := n; i > 0; i-- {
		s := Sample{T: int64(i) * 1000, Sats: 9}
		q.Add(s, 5000)
		if i == n/2 {
			s.Sats = 4 // the same time again: dropped
			q.Add(s, 5000)
		}
	}
	var got []Sample
	q.Release(10_000, 0, func(s Sample) { got = append(got, s) })
	if len(got) != n {
		t.Fatalf("%d released, want %d", len(got), n)
	}
	for i, s := range got {
		if s.T != int64(i+1)*1000 || s.Sats != 9 {
			t.Fatalf("released #%d: %+v", i, s)
		}
	}
	if late, _ := q.Add(Sample{T: 500}, 20_000); !late {
		t.Error("a message older than what was passed is not late")
	}
	if len(q.Held) != 0 || cap(q.Held) != 0 {
		t.Errorf("an empty queue keeps %d bytes", cap(q.Held)*int(unsafe.Sizeof(Sample{})))
	}
}

// TestQueueBounded: a device sending more than MaxHeld messages within
// its window holds MaxHeld, the oldest passed on early, in order.
func TestQueueBounded(t *testing.T) {
	var q Queue
	var got []int64
	for i := range 3 * MaxHeld {
		q.Add(Sample{T: int64(i+1) * 1000}, 1000)
		q.Release(1000, 120_000, func(s Sample) { got = append(got, s.T) })
	}
	if len(q.Held) != MaxHeld || len(got) != 2*MaxHeld || got[0] != 1000 || got[len(got)-1] != int64(2*MaxHeld)*1000 {
		t.Errorf("held %d, passed %d (%v..%v)", len(q.Held), len(got), got[0], got[len(got)-1])
	}
}

// TestQueueBacklogByUploadTime: after an outage flespi delivers a
// device's day at once; each message is held until flespi delivered one
// it received a window after it, not for a window of the exporter's
// clock: a reporting interval's share of the window is held, not the
// day. A stretch of it buffered by the device and received at once,
// delivered newest first, still comes out in device-time order.
func TestQueueBacklogByUploadTime(t *testing.T) {
	const (
		every   = 10        // seconds between reports
		start   = 1_000_000 // the day's first report, Unix seconds
		arrival = (start + 2*86400) * 1000
		window  = 120_000
	)
	var deliveries []Sample
	for i := range 8640 { // a day of reports
		t := start + int64(i*every)
		deliveries = append(deliveries, Sample{T: t * 1000, Upload: uint32(t + 1)})
	}
	// An hour out of coverage: buffered, received by flespi when back
	// (with the first report after it), delivered newest first.
	lo, hi := 3000, 3360
	back := deliveries[hi].Upload
	buffered := append([]Sample(nil), deliveries[lo:hi]...)
	day := append([]Sample(nil), deliveries[:lo]...)
	day = append(day, deliveries[hi])
	for i := len(buffered) - 1; i >= 0; i-- {
		buffered[i].Upload = back
		day = append(day, buffered[i])
	}
	day = append(day, deliveries[hi+1:]...)

	var q Queue
	var got []int64
	most := 0
	for _, s := range day {
		if late, dup := q.Add(s, arrival); late || dup {
			t.Fatalf("message at %d: late %v, duplicate %v", s.T, late, dup)
		}
		most = max(most, len(q.Held))
		q.Release(arrival, window, func(s Sample) { got = append(got, s.T) })
	}
	if most > len(buffered)+window/1000/every+2 {
		t.Errorf("held up to %d messages of a backlog of %d", most, len(day))
	}
	q.Release(0, -1, func(s Sample) { got = append(got, s.T) })
	if len(got) != len(deliveries) {
		t.Fatalf("%d passed, want %d", len(got), len(deliveries))
	}
	for i := range got {
		if got[i] != deliveries[i].T {
			t.Fatalf("passed #%d at %d, want %d", i, got[i], deliveries[i].T)
		}
	}
}
