package remotewrite

import (
	"cmp"
	"context"
	"errors"
	"math/bits"
	"slices"
)

// A receiver refuses a request whole for one sample it cannot take
// (Prometheus: out of order, too old, a duplicate): every other device's
// samples in it would go with it. A refused request is therefore cut in
// halves and sent again at once, down to the samples refused, which alone
// are dead-lettered.
//
// The halves are cut by time: the request's samples are ordered by time,
// then by series, and the earlier half is settled (taken, or narrowed down
// in turn) before the later one is sent, so that each series still
// reaches the receiver in time order, as one without an out-of-order
// window needs. A refusal is about a sample's time, so the samples of one
// late message lie side by side and are found in about 2·log2(times)
// requests. When the earlier half is taken whole, the refusal lies in the
// later one: it is cut without being sent whole.

// unit is one sample of one chunk of the refused request.
type unit struct {
	ms    int64
	chunk int32
	value float64
}

// narrower settles one refused request.
type narrower struct {
	ctx     context.Context
	w       *Writer
	req     *writeRequest
	units   []unit
	budget  int // requests it may still send
	scratch [][]sample
	taken   int // samples
	dead    int
	buf     []byte
}

// narrow settles req, which the receiver refused (cause): the samples it
// takes are stored, the ones it refuses dead-lettered. An error is a
// passing failure (or a dead-letter file that cannot be written): req is
// not settled.
func (w *Writer) narrow(ctx context.Context, req *writeRequest, cause *refusal) (taken, dead int, err error) {
	n := &narrower{ctx: ctx, w: w, req: req, scratch: make([][]sample, len(req.chunks))}
	for i, c := range req.chunks {
		for _, s := range c.samples {
			n.units = append(n.units, unit{s.ms, int32(i), s.value})
		}
	}
	slices.SortFunc(n.units, func(a, b unit) int {
		return cmp.Or(cmp.Compare(a.ms, b.ms), cmp.Compare(a.chunk, b.chunk))
	})
	// Two requests a halving, with room: past it (a receiver that refuses
	// something at every time), the rest is dead-lettered, not sent one
	// sample a request.
	n.budget = 2*bits.Len(uint(len(n.units))) + 4
	err = n.resolve(0, len(n.units), cause)
	return n.taken, n.dead, err
}

// resolve settles units[lo:hi], refused as a whole for cause.
func (n *narrower) resolve(lo, hi int, cause *refusal) error {
	if hi-lo == 1 {
		return n.deadLetter(lo, hi, cause)
	}
	if n.budget <= 0 {
		n.w.log.Warn("the remote write receiver refuses samples at many times: the rest of the refused request is dead-lettered without narrowing it further",
			"samples", hi-lo)
		return n.deadLetter(lo, hi, cause)
	}
	mid := n.split(lo, hi)
	takenWhole, err := n.try(lo, mid, cause)
	if err != nil {
		return err
	}
	if takenWhole {
		return n.resolve(mid, hi, cause)
	}
	_, err = n.try(mid, hi, cause)
	return err
}

// try sends units[lo:hi]; takenWhole reports that the receiver took them
// all at once. A refusal of them is narrowed down in turn.
func (n *narrower) try(lo, hi int, parent *refusal) (takenWhole bool, err error) {
	n.budget--
	req := n.request(lo, hi)
	if n.buf, err = req.encode(n.buf, n.w.sender.v2); err != nil {
		return false, err
	}
	err = n.w.sender.post(n.ctx, n.buf, req.samples)
	var r *refusal
	switch {
	case err == nil:
		n.taken += hi - lo
		return true, nil
	case errors.As(err, &r):
		return false, n.resolve(lo, hi, r)
	}
	return false, err
}

// split cuts units[lo:hi] near its middle between two times, so that one
// message's samples stay together; within one time, at the middle.
func (n *narrower) split(lo, hi int) int {
	mid := (lo + hi) / 2
	if n.units[lo].ms == n.units[hi-1].ms {
		return mid
	}
	up, down := mid, mid
	for up < hi && n.units[up].ms == n.units[up-1].ms {
		up++
	}
	for down > lo && n.units[down].ms == n.units[down-1].ms {
		down--
	}
	if up < hi && (down == lo || up-mid <= mid-down) {
		return up
	}
	return down
}

// request is units[lo:hi] as a request, each chunk's samples in time
// order.
func (n *narrower) request(lo, hi int) *writeRequest {
	for i := range n.scratch {
		n.scratch[i] = n.scratch[i][:0]
	}
	for _, u := range n.units[lo:hi] {
		n.scratch[u.chunk] = append(n.scratch[u.chunk], sample{u.ms, u.value})
	}
	req := &writeRequest{}
	for i, ss := range n.scratch {
		if len(ss) > 0 {
			req.add(n.req.chunks[i].series, slices.Clone(ss))
		}
	}
	return req
}

func (n *narrower) deadLetter(lo, hi int, cause *refusal) error {
	if err := n.w.deadLetter(n.request(lo, hi), cause); err != nil {
		return err
	}
	n.dead += hi - lo
	return nil
}
