package mqtt

import (
	"testing"

	"github.com/flespi-exporter/flespi-exporter/internal/mqtt5"
)

// TestReceivedJoinsPayloads: the messages of a batch are one JSON array,
// each payload and topic still found alone (for the one-by-one decoding),
// and QoS 0 messages are not counted for acknowledgement.
func TestReceivedJoinsPayloads(t *testing.T) {
	var r received
	r.clear(nil)
	for _, p := range []mqtt5.Packet{
		{Topic: []byte("a/1"), Payload: []byte(`{"ident":"1"}`), PacketID: 7, QoS: 1},
		{Topic: []byte("b/22"), Payload: []byte(`{"ident":"2"}`)},
		{Topic: []byte("c"), Payload: []byte(`not json`), PacketID: 9, QoS: 2},
	} {
		r.add(&p)
	}
	r.close()
	if got := string(r.body); got != `[{"ident":"1"},{"ident":"2"},not json]` {
		t.Errorf("body %s", got)
	}
	if r.topic(1) != "b/22" || string(r.payload(2)) != "not json" || r.acknowledged() != 2 || r.bytes != 34 {
		t.Errorf("topic %q payload %q acks %d bytes %d", r.topic(1), r.payload(2), r.acknowledged(), r.bytes)
	}
}

// TestReceivedLetsGoOfBursts: after a burst of large payloads, the buffer
// is not kept for the next batches.
func TestReceivedLetsGoOfBursts(t *testing.T) {
	var r received
	r.clear(nil)
	big := make([]byte, keptBody+1)
	r.add(&mqtt5.Packet{Payload: big, PacketID: 1})
	r.clear(nil)
	if cap(r.body) > keptBody {
		t.Errorf("%d bytes kept after the burst", cap(r.body))
	}
}
