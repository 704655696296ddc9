package remotewrite

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// doneSeries bounds what is remembered of failed batches (a hash of each
// series' samples the receiver took: about 20 bytes each).
const doneSeries = 200_000

// doneSet remembers what the receiver took of batches that then failed
// (a later request of the batch found the receiver down, or the time ran
// out): flespi sends such a batch again whole, and sending the taken part
// again would cost the time that made it fail (a slow receiver would never
// get a batch through) and count it twice. A series' samples of a batch
// are known by a hash of its labels and samples, for doneFor (flespi
// sends a batch again within seconds). The device's last-received gauge
// is the exception: each try of a batch has its own arrival time, so the
// series is known by its labels alone, for a minute (in which the
// receiver has the gauge of the earlier try). A healthy path never hashes:
// the set is empty.
type doneSet struct {
	mu   sync.Mutex
	seed maphash.Seed
	set  map[uint64]time.Time // until when
	ring []uint64             // in the order added; the oldest are forgotten first
	next int
	max  int
}

func newDoneSet(max int) *doneSet {
	return &doneSet{seed: maphash.MakeSeed(), set: map[uint64]time.Time{}, max: max}
}

// How long what a failed batch delivered is remembered.
const (
	doneFor         = 10 * time.Minute
	doneReceivedFor = time.Minute
)

// filter returns what requests leaves out, or nil when nothing is
// remembered; received names the last-received gauge.
func (d *doneSet) filter(received string) func(se *series, samples []sample) bool {
	d.mu.Lock()
	empty := len(d.set) == 0
	d.mu.Unlock()
	if empty {
		return nil
	}
	var h maphash.Hash
	h.SetSeed(d.seed)
	return func(se *series, samples []sample) bool {
		k := d.key(&h, se, samples, received)
		d.mu.Lock()
		defer d.mu.Unlock()
		until, ok := d.set[k]
		return ok && time.Now().Before(until)
	}
}

// add remembers the series of reqs, which the receiver took (or refused
// for good, and they are dead-lettered).
func (d *doneSet) add(reqs []*writeRequest, received string) {
	if len(reqs) == 0 {
		return
	}
	var h maphash.Hash
	h.SetSeed(d.seed)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, req := range reqs {
		for _, c := range req.chunks {
			k := d.key(&h, c.series, c.samples, received)
			until := time.Now().Add(doneFor)
			if c.name() == received {
				until = time.Now().Add(doneReceivedFor)
			}
			if _, ok := d.set[k]; ok {
				d.set[k] = until
				continue
			}
			if len(d.ring) < d.max {
				d.ring = append(d.ring, k)
			} else {
				delete(d.set, d.ring[d.next])
				d.ring[d.next] = k
				d.next = (d.next + 1) % len(d.ring)
			}
			d.set[k] = until
		}
	}
}

// key is the hash of a series' labels and samples; of its labels alone
// for the last-received gauge.
func (d *doneSet) key(h *maphash.Hash, se *series, samples []sample, received string) uint64 {
	h.Reset()
	if se.name() == received {
		samples = nil
	}
	h.Write(se.head) // the labels, each with its length
	h.Write(se.tail)
	var b [16]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint64(b[:8], uint64(s.ms))
		binary.LittleEndian.PutUint64(b[8:], math.Float64bits(s.value))
		h.Write(b[:])
	}
	return h.Sum64()
}
