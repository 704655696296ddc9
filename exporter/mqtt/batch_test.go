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
		{Topic: []byte("a/1"), Payload: []byte(`{"ident":"1"}`), PacketID: 7},
		{Topic: []byte("b/22"), Payload: []byte(`{"ident":"2"}`)},
		{Topic: []byte("c"), Payload: []byte(`not json`), PacketID: 9},
	} {
		r.add(&p)
	}
	if got := string(r.body) + "]"; got != `[{"ident":"1"},{"ident":"2"},not json]` {
		t.Errorf("body %s", got)
	}
	if r.topic(1) != "b/22" || string(r.payload(2)) != "not json" || r.acks() != 2 || r.anyEmpty() {
		t.Errorf("topic %q payload %q acks %d empty %v", r.topic(1), r.payload(2), r.acks(), r.anyEmpty())
	}
	r.add(&mqtt5.Packet{Topic: []byte("d"), PacketID: 10})
	if !r.anyEmpty() {
		t.Error("an empty payload is not seen: it would vanish from the array")
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
