package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/mqtt5"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// holdPolicy is how a batch no store takes is held and tried again: until
// it is stored or the source stops, the waits doubling from 1 s to a
// minute. The broker keeps the rest meanwhile.
var holdPolicy = retry.Policy{First: time.Second, Max: time.Minute}

// received are messages of one connection, copied out of its read buffer:
// the payloads already joined as a JSON array (a batch's body, decoded in
// one pass like an HTTP stream's), their topics, and what acknowledges
// them.
type received struct {
	conn     *mqtt5.Conn
	body     []byte           // "[" payload "," payload ... (the "]" added when taken)
	payloads []span           // each payload in body
	topics   []byte           // joined
	topicEnd []int            // each topic's end in topics
	acks     []mqtt5.Delivery // packet id and QoS of each
	bytes    int              // payload bytes
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
	r.payloads, r.topics, r.topicEnd, r.acks = r.payloads[:0], r.topics[:0], r.topicEnd[:0], r.acks[:0]
	r.bytes = 0
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
	r.acks = append(r.acks, mqtt5.Delivery{PacketID: p.PacketID, QoS: p.QoS})
	r.bytes += len(p.Payload)
}

// close ends the JSON array of the payloads.
func (r *received) close() { r.body = append(r.body, ']') }

func (r *received) payload(i int) []byte { return r.body[r.payloads[i].start:r.payloads[i].end] }

func (r *received) topic(i int) string {
	start := 0
	if i > 0 {
		start = r.topicEnd[i-1]
	}
	return string(r.topics[start:r.topicEnd[i]])
}

// acknowledged is how many of the messages are acknowledged (QoS 1 and 2).
func (r *received) acknowledged() int {
	n := 0
	for _, a := range r.acks {
		if a.QoS > 0 {
			n++
		}
	}
	return n
}

// inbox holds what the current connection received and the batch loop
// has not taken yet. The reader adds a message at a time under the lock;
// the batch loop takes everything at once: no goroutine hand-off per
// message. It holds at most receive_maximum messages and batch_bytes of
// payloads: the broker should send no more messages before they are
// acknowledged, but mosquitto 2.0 was seen to (flespi-bench: 30,000 at
// once), and a few large ones can be gigabytes; so the reader waits for
// room, and the memory stays bounded by what the configuration says.
type inbox struct {
	mu       sync.Mutex
	room     *sync.Cond // signalled when the inbox is taken or reset
	msgs     *received
	size     int           // batch_size
	max      int           // receive_maximum
	maxBytes int           // batch_bytes
	lastAdd  time.Time     // when the last message came: the batch loop sees the inflow pause
	first    chan struct{} // a message came to an empty inbox
	full     chan struct{} // the inbox holds batch_size messages
	n        *counts
}

func newInbox(size, max, maxBytes int, n *counts) *inbox {
	in := &inbox{msgs: &received{}, size: size, max: max, maxBytes: maxBytes,
		first: make(chan struct{}, 1), full: make(chan struct{}, 1), n: n}
	in.room = sync.NewCond(&in.mu)
	in.msgs.clear(nil)
	return in
}

// add copies a message of connection c in, after waiting for room: for
// one more message, and for its bytes unless the inbox is empty (a
// message is never too large for an empty inbox: max_packet_size is at
// most batch_bytes).
func (in *inbox) add(c *mqtt5.Conn, p *mqtt5.Packet) {
	in.n.received.Add(1)
	if p.Dup {
		in.n.redelivered.Add(1)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for c == in.msgs.conn && in.noRoomFor(len(p.Payload)) {
		in.room.Wait()
	}
	if c != in.msgs.conn {
		return // of a connection that ended: the broker sends it again
	}
	in.msgs.add(p)
	in.lastAdd = time.Now()
	switch {
	case in.msgs.len() == 1:
		signal(in.first)
	case in.msgs.len() == in.size || in.msgs.bytes >= in.maxBytes:
		signal(in.full)
	}
}

func (in *inbox) noRoomFor(bytes int) bool {
	m := in.msgs
	return m.len() >= in.max || (m.len() > 0 && m.bytes+bytes > in.maxBytes)
}

// quiet is how long ago the last message came.
func (in *inbox) quiet() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return time.Since(in.lastAdd)
}

// take returns what the inbox holds, its JSON array closed, and leaves it
// empty, with spare's buffers.
func (in *inbox) take(spare *received) *received {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.msgs
	spare.clear(r.conn)
	in.msgs = spare
	drain(in.first)
	drain(in.full)
	in.room.Broadcast()
	r.close()
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

// finishWithin is how long a batch being stored when the source stops
// may still take to be stored and acknowledged (docker stops a container
// with SIGKILL 10 s after SIGTERM): Source.finishWithin's default.
const finishWithin = 8 * time.Second

// batches takes the inbox and stores it before it takes the next, until
// ctx ends; a batch being stored then is finished (within finishWithin)
// and acknowledged. While InfluxDB is down, the broker stops at
// receive_maximum unacknowledged messages and keeps the rest.
func (s *Source) batches(ctx context.Context) {
	defer s.in.reset(nil) // a reader waiting for room stops waiting
	storeCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(s.finishWithin, cancel) })
	defer stop()
	spare := &received{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.in.first:
		}
		if !s.fill(ctx) {
			return
		}
		batch := s.in.take(spare)
		if batch.len() > 0 {
			s.store(storeCtx, batch)
		}
		spare = batch
	}
}

// fill waits, after a batch's first message, until the batch is full
// (batch_size messages or batch_bytes), batch_wait has passed, or the
// inflow pauses: no message for batch_idle. The pause is what a broker
// that sends the next messages only once these are acknowledged (ejabberd
// keeps one in flight) makes at once: waiting batch_wait there stored one
// message a second. With many messages in flight it comes only when the
// broker has sent all it had, so the batches stay large. It reports false
// when ctx ends.
func (s *Source) fill(ctx context.Context) bool {
	wait := time.NewTimer(time.Duration(s.cfg.BatchWait))
	defer wait.Stop()
	pause := time.Duration(s.cfg.BatchIdle)
	idle := time.NewTimer(pause)
	defer idle.Stop()
	for {
		select {
		case <-s.in.full:
			return true
		case <-wait.C:
			return true
		case <-ctx.Done():
			return false
		case <-idle.C:
			quiet := s.in.quiet()
			if quiet >= pause {
				return true
			}
			idle.Reset(pause - quiet)
		}
	}
}

// store maps and stores one batch, holding it and retrying with backoff
// while it cannot be stored, and acknowledges every message of it once it
// is: the good ones stored, the ones that can never be (not JSON, not
// messages) kept in the rejected file. It gives up, acknowledging nothing,
// only when ctx ends; the broker then sends them again.
func (s *Source) store(ctx context.Context, r *received) {
	b := s.pipe.Begin(pipeline.SourceMQTT, s.now())
	defer b.Release()
	decoded := false
	err := holdPolicy.Do(ctx, func() error {
		if !decoded {
			// Again after a failure: the rejected file could not be
			// written, and its payloads are acknowledged only once kept.
			if err := s.decode(b, r); err != nil {
				return err
			}
			decoded = true
		}
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
	if err := r.conn.Ack(r.acks); err != nil {
		s.log.Warn("the MQTT acknowledgements of a stored batch were not sent; the broker sends the messages again", "messages", r.len(), "err", err)
		return
	}
	s.n.acked.Add(uint64(r.acknowledged()))
}

// errOnePerPayload: each MQTT message must be one flespi message.
var errOnePerPayload = errors.New("want one JSON object per MQTT message")

// decode adds the messages of r to b. The payloads are decoded as one JSON
// array, as an HTTP stream's batch is (one pass, the decoder's prediction
// of each message's keys from the one before), and each message must lie
// within its own payload: joined, "{..},{..}" in one payload would be two
// messages, and two halves of one in two payloads one. When that fails,
// the payloads are decoded one by one to reject the bad ones alone. The
// error is the rejected file's: its payloads could not be kept.
func (s *Source) decode(b *pipeline.Batch, r *received) error {
	b.Reset()
	i := 0
	err := b.Decode(r.body, func(m *message.Message) error {
		start, end := m.Span(r.body)
		if i >= r.len() || start < r.payloads[i].start || end > r.payloads[i].end {
			return errOnePerPayload
		}
		i++
		return b.AddMessage(m)
	})
	if err == nil && i == r.len() {
		return nil
	}
	b.Reset()
	var rejects []rejected
	for i := range r.len() {
		if err := s.addOne(b, r.payload(i)); err != nil {
			rejects = append(rejects, rejected{r.topic(i), r.payload(i), err})
		}
	}
	return s.reject(rejects)
}

// addOne adds one payload that must hold exactly one message.
func (s *Source) addOne(b *pipeline.Batch, payload []byte) error {
	n := 0
	if err := b.Decode(payload, func(*message.Message) error { n++; return nil }); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%w, found %d", errOnePerPayload, n)
	}
	return b.Add(payload)
}

// reject keeps the payloads that can never be stored, so that they do not
// block the session: they are acknowledged with their batch, and so only
// once the rejected file holds them.
func (s *Source) reject(rs []rejected) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.rejected.write(rs, s.now()); err != nil {
		return fmt.Errorf("keeping %d MQTT payloads that are not flespi messages in the rejected file (they stay unacknowledged until it can be written): %w", len(rs), err)
	}
	s.n.rejected.Add(uint64(len(rs)))
	for _, r := range rs {
		s.log.Warn("an MQTT payload is not a flespi message; kept in the rejected file and acknowledged",
			"topic", r.topic, "err", r.err)
	}
	return nil
}
