package fleet

import "testing"

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
		t.Errorf("an empty queue keeps %d bytes", cap(q.Held)*40)
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
