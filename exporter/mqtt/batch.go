package mqtt

import (
	"context"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/mqtt5"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
)

// holdPolicy is how a batch no store takes is held and tried again: until
// it is stored or the source stops, the waits doubling from 1 s to a
// minute. The broker keeps the rest meanwhile.
var holdPolicy = retry.Policy{First: time.Second, Max: time.Minute}

// received are messages of one connection, copied out of its read buffer:
// the payloads already joined as a JSON array (a batch's body, decoded in
// one pass like an HTTP stream's), their topics, and their packet ids to
// acknowledge.
type received struct {
	conn     *mqtt5.Conn
	body     []byte   // "[" payload "," payload ... (the "]" added when taken)
	payloads []span   // each payload in body
	topics   []byte   // joined
	topicEnd []int    // each topic's end in topics
	ids      []uint16 // packet ids; 0 for QoS 0
}

type span struct{ start, end int }

func (r *received) len() int { return len(r.payloads) }

// keptBody is the largest buffer of payloads kept for the next messages:
// a burst of large ones does not hold its memory for good.
const keptBody = 8 << 20

func (r *received) clear(c *mqtt5.Conn) {
	r.conn = c
	if cap(r.body) > keptBody {
		r.body = nil
	}
	r.body = append(r.body[:0], '[')
	r.payloads, r.topics, r.topicEnd, r.ids = r.payloads[:0], r.topics[:0], r.topicEnd[:0], r.ids[:0]
}

func (r *received) add(p *mqtt5.Packet) {
	if r.len() > 0 {
		r.body = append(r.body, ',')
	}
	start := len(r.body)
	r.body = append(r.body, p.Payload...)
	r.payloads = append(r.payloads, span{start, len(r.body)})
	r.topics = append(r.topics, p.Topic...)
	r.topicEnd = append(r.topicEnd, len(r.topics))
	r.ids = append(r.ids, p.PacketID)
}

func (r *received) payload(i int) []byte { return r.body[r.payloads[i].start:r.payloads[i].end] }

func (r *received) topic(i int) string {
	start := 0
	if i > 0 {
		start = r.topicEnd[i-1]
	}
	return string(r.topics[start:r.topicEnd[i]])
}

// anyEmpty reports whether a payload is empty: joined, it would vanish
// ("[]") or break the array.
func (r *received) anyEmpty() bool {
	for _, p := range r.payloads {
		if p.start == p.end {
			return true
		}
	}
	return false
}

// acks is how many of the messages are acknowledged (QoS 1).
func (r *received) acks() int {
	n := 0
	for _, id := range r.ids {
		if id != 0 {
			n++
		}
	}
	return n
}

// inbox holds what the current connection received and the batch loop
// has not taken yet. The reader adds a message at a time under the lock;
// the batch loop takes everything at once: no goroutine hand-off per
// message. It holds at most receive_maximum messages: the broker should
// send no more before they are acknowledged, but mosquitto 2.0 was seen to
// (flespi-bench: 30,000 at once), so the reader waits for room, and the
// memory stays bounded by what the client asked for.
type inbox struct {
	mu    sync.Mutex
	room  *sync.Cond // signalled when the inbox is taken or reset
	msgs  *received
	size  int           // batch_size
	max   int           // receive_maximum
	first chan struct{} // a message came to an empty inbox
	full  chan struct{} // the inbox holds batch_size messages
	n     *counts
}

func newInbox(size, max int, n *counts) *inbox {
	in := &inbox{msgs: &received{}, size: size, max: max, first: make(chan struct{}, 1), full: make(chan struct{}, 1), n: n}
	in.room = sync.NewCond(&in.mu)
	in.msgs.clear(nil)
	return in
}

// add copies a message of connection c in, after waiting for room.
func (in *inbox) add(c *mqtt5.Conn, p *mqtt5.Packet) {
	in.n.received.Add(1)
	if p.Dup {
		in.n.redelivered.Add(1)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for c == in.msgs.conn && in.msgs.len() >= in.max {
		in.room.Wait()
	}
	if c != in.msgs.conn {
		return // of a connection that ended: the broker sends it again
	}
	in.msgs.add(p)
	switch in.msgs.len() {
	case 1:
		signal(in.first)
	case in.size:
		signal(in.full)
	}
}

// take returns what the inbox holds and leaves it empty, with spare's
// buffers.
func (in *inbox) take(spare *received) *received {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.msgs
	spare.clear(r.conn)
	in.msgs = spare
	drain(in.first)
	drain(in.full)
	in.room.Broadcast()
	return r
}

// reset drops what the inbox holds (acknowledged by nobody, it comes
// again) and takes messages of c from now on; a reader waiting for room
// with another connection's message returns.
func (in *inbox) reset(c *mqtt5.Conn) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.resetLocked(c)
}

func (in *inbox) resetLocked(c *mqtt5.Conn) {
	in.msgs.clear(c)
	drain(in.first)
	drain(in.full)
	in.room.Broadcast()
}

// drop resets the inbox if it holds connection c's messages.
func (in *inbox) drop(c *mqtt5.Conn) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.msgs.conn == c {
		in.resetLocked(nil)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// batches takes the inbox when it holds batch_size messages, or batch_wait
// after its first message, and stores it before it takes the next: while
// InfluxDB is down, the broker stops at receive_maximum unacknowledged
// messages and keeps the rest.
func (s *Source) batches(ctx context.Context) {
	defer s.in.reset(nil) // a reader waiting for room stops waiting
	spare := &received{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.in.first:
		}
		timer := time.NewTimer(time.Duration(s.cfg.BatchWait))
		select {
		case <-s.in.full:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if ctx.Err() != nil {
			return
		}
		batch := s.in.take(spare)
		if batch.len() > 0 {
			s.store(ctx, batch)
		}
		spare = batch
	}
}

// store maps and stores one batch, holding it and retrying with backoff
// while it cannot be stored, and acknowledges every message of it once it
// is: the good ones stored, the ones that can never be (not JSON, not
// messages) kept in the rejected file. It gives up, acknowledging nothing,
// only when ctx ends; the broker then sends them again.
func (s *Source) store(ctx context.Context, r *received) {
	b := s.pipe.Begin("mqtt", s.now())
	defer b.Release()
	s.decode(b, r)
	err := holdPolicy.Do(ctx, func() error {
		res, err := b.Store(ctx)
		if err == nil {
			s.log.Debug("MQTT batch stored", "result", res.String())
		}
		return err
	}, nil, func(_ int, err error, wait time.Duration) {
		s.n.held.Add(1)
		s.log.Warn("MQTT batch not stored; holding it, unacknowledged, and retrying", "messages", r.len(), "err", err, "retry_in", wait)
	})
	if err != nil {
		return // ctx ended: nothing acknowledged, the broker sends it again
	}
	// On the connection the messages came by: after a reconnect it is
	// closed and the acknowledgements go nowhere; the broker sends the
	// messages again on the new connection (packet ids are per
	// connection: an old id would acknowledge another message).
	// A failed write closes the connection (mqtt5.Conn): the broker sends
	// the messages again, and the reader reconnects.
	if err := r.conn.Ack(r.ids); err != nil {
		s.log.Warn("the MQTT acknowledgements of a stored batch were not sent; the broker sends the messages again", "messages", r.len(), "err", err)
		return
	}
	s.n.acked.Add(uint64(r.acks()))
}

// decode adds the messages of r to b. The payloads are decoded as one JSON
// array, as an HTTP stream's batch is (one pass, the decoder's prediction
// of each message's keys from the one before); when that fails, one of
// them is not a message, and they are decoded one by one to reject the bad
// ones alone.
func (s *Source) decode(b *pipeline.Batch, r *received) {
	r.body = append(r.body, ']')
	if !r.anyEmpty() {
		if err := b.Add(r.body); err == nil {
			return
		}
	}
	b.Reset()
	for i := range r.len() {
		if err := b.Add(r.payload(i)); err != nil {
			s.reject(r.topic(i), r.payload(i), err)
		}
	}
}

// reject keeps a payload that can never be stored, so that it does not
// block the session: it is acknowledged with its batch.
func (s *Source) reject(topic string, payload []byte, err error) {
	s.n.rejected.Add(1)
	s.log.Warn("an MQTT payload is not a flespi message; kept in the rejected file and acknowledged",
		"topic", topic, "err", err)
	if werr := s.rejected.write(topic, payload, err, s.now()); werr != nil {
		s.log.Error("writing the rejected MQTT payload", "err", werr)
	}
}
