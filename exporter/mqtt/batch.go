package mqtt

import (
	"context"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// batches gathers received messages into batches of batch_size, or what
// came within batch_wait, and stores each before it takes the next: while
// InfluxDB is down, the broker stops at receive_maximum unacknowledged
// messages and keeps the rest.
func (s *Source) batches(ctx context.Context) {
	pending := make([]paho.PublishReceived, 0, s.cfg.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return
		case pr := <-s.received:
			pending = append(pending[:0], pr)
		}
		timer := time.NewTimer(time.Duration(s.cfg.BatchWait))
	fill:
		for len(pending) < s.cfg.BatchSize {
			select {
			case pr := <-s.received:
				pending = append(pending, pr)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		timer.Stop()
		s.store(ctx, pending)
		clear(pending) // drop the payloads
	}
}

// store maps and stores one batch, holding it and retrying with backoff
// while it cannot be stored, and acknowledges every message of it once it
// is: the good ones stored, the ones that can never be (not JSON, not
// messages) kept in the rejected file. It gives up, acknowledging nothing,
// only when ctx ends; the broker then sends them again.
func (s *Source) store(ctx context.Context, pending []paho.PublishReceived) {
	b := s.pipe.Begin(s.now())
	defer b.Release()
	b.SetSource("mqtt")
	for _, pr := range pending {
		s.m.received.Inc()
		if pr.Packet.Duplicate() {
			s.m.redelivered.Inc()
		}
	}
	s.decode(b, pending)
	s.pipe.Count(b)
	for attempt := 1; ; attempt++ {
		res, err := s.pipe.Store(ctx, b)
		if err == nil {
			s.log.Debug("MQTT batch stored", "result", res.String())
			break
		}
		s.m.held.Inc()
		wait := backoff(attempt)
		s.log.Warn("MQTT batch not stored; holding it, unacknowledged, and retrying", "messages", len(pending), "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	for _, pr := range pending {
		// The client that received it: after a reconnect that is the old,
		// closed one, and the ack goes nowhere; the broker sends the
		// message again on the new connection (an ack of another
		// connection's packet id would acknowledge the wrong message).
		if err := pr.Client.Ack(pr.Packet); err == nil {
			s.m.acked.Inc()
		}
	}
}

// decode adds the messages of pending to b. The payloads are decoded as
// one JSON array, as an HTTP stream's batch is (one pass, the decoder's
// prediction of each message's keys from the one before); when that
// fails, one of them is not a message, and they are decoded one by one to
// reject the bad ones alone.
func (s *Source) decode(b *pipeline.Batch, pending []paho.PublishReceived) {
	s.body = append(s.body[:0], '[')
	for i, pr := range pending {
		if i > 0 {
			s.body = append(s.body, ',')
		}
		s.body = append(s.body, pr.Packet.Payload...)
	}
	s.body = append(s.body, ']')
	if err := b.Decode(s.body, b.Add); err == nil {
		return
	}
	b.Reset()
	for _, pr := range pending {
		if err := b.Decode(pr.Packet.Payload, b.Add); err != nil {
			s.reject(pr, err)
		}
	}
}

// reject keeps a payload that can never be stored, so that it does not
// block the session: it is acknowledged with its batch.
func (s *Source) reject(pr paho.PublishReceived, err error) {
	s.m.rejected.Inc()
	s.log.Warn("an MQTT payload is not a flespi message; kept in the rejected file and acknowledged",
		"topic", pr.Packet.Topic, "err", err)
	if werr := s.rejected.write(pr.Packet.Topic, pr.Packet.Payload, err, s.now()); werr != nil {
		s.log.Error("writing the rejected MQTT payload", "err", werr)
	}
}
