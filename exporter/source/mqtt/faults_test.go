package mqtt

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// Faults met with brokers other than mosquitto and with odd sessions:
// each test failed on the source before its fix.

// TestOneInFlight: a broker that sends the next message only once the
// last is acknowledged gets each acknowledged as soon as it is stored,
// not after batch_wait (with batch_wait 10 s: ten messages in well under
// a second each).
func TestOneInFlight(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	source(t, b, db, func(c *config.MQTT) { c.BatchWait, c.BatchSize = config.Duration(10*time.Second), 100 })
	bc := b.accept()
	start := time.Now()
	for i := range uint16(10) {
		bc.publish(i+1, 1, false)
		if ids := bc.pubacks(1); ids[0] != i+1 {
			t.Fatalf("PUBACK %v, want %d", ids, i+1)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10 messages one at a time took %v", d)
	}
	if n := len(db.Lines()); n != 10 {
		t.Errorf("%d points, want 10", n)
	}
}

// TestQoS2Message: a QoS 2 message in the session (an earlier client
// subscribed at QoS 2) is stored and answered with PUBREC, in order with
// the QoS 1 ones, and the broker's PUBREL with PUBCOMP; the messages
// after it are stored too (the reader once refused it, reconnected and got
// it first again, for ever).
func TestQoS2Message(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	source(t, b, db, func(c *config.MQTT) { c.BatchSize = 3 })
	bc := b.accept()
	bc.send(1, 2, `{"ident":"q2","timestamp":1717171200,"speed":2}`)
	bc.send(2, 1, `{"ident":"q1","timestamp":1717171200,"speed":1}`)
	bc.send(3, 1, `{"ident":"q1","timestamp":1717171201,"speed":3}`)
	var got []string
	for len(got) < 3 {
		cp := bc.read()
		got = append(got, fmt.Sprintf("%s %d", cp.PacketType(), cp.PacketID()))
	}
	if strings.Join(got, ", ") != "PUBREC 1, PUBACK 2, PUBACK 3" {
		t.Errorf("answers %v", got)
	}
	rel := packets.NewControlPacket(packets.PUBREL)
	rel.Content.(*packets.Pubrel).PacketID = 1
	bc.write(rel)
	if cp := bc.read(); cp.Type != packets.PUBCOMP || cp.PacketID() != 1 {
		t.Errorf("want PUBCOMP 1, got %v", cp)
	}
	if n := len(db.Lines()); n != 3 {
		t.Errorf("%d points, want 3", n)
	}
}

// TestPayloadBoundaries: each MQTT message must be one flespi message.
// Joined into one array, "{..},{..}" in one payload would be two messages,
// and a message split over two payloads one; each is rejected instead,
// and the good message beside them is stored.
func TestPayloadBoundaries(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	r := runSource(t, b, db, func(c *config.MQTT) { c.BatchSize = 4 }, quiet, t.TempDir()+"/rejected.jsonl")
	bc := b.accept()
	bc.send(1, 1, `{"ident":"a","timestamp":1765200000`)
	bc.send(2, 1, `"speed":9}`)
	bc.send(3, 1, `{"ident":"b","timestamp":1765200000,"speed":1},{"ident":"c","timestamp":1765200000,"speed":2}`)
	bc.send(4, 1, `{"ident":"d","timestamp":1765200000,"speed":4}`)
	if ids := bc.pubacks(4); fmt.Sprint(ids) != "[1 2 3 4]" {
		t.Errorf("PUBACKs %v", ids)
	}
	lines := db.Lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "ident=d") {
		t.Errorf("stored %q, want the one good message", lines)
	}
	if got := counter(t, r.reg, "flespi_exporter_mqtt_messages_rejected_total"); got != 3 {
		t.Errorf("rejected %v, want 3", got)
	}
}

// TestRejectedFileNotWritable: a payload that is not a message is
// acknowledged only once the rejected file holds it; when the file cannot
// be written (a full disk: /dev/full), the batch is held unacknowledged
// like one InfluxDB refuses.
func TestRejectedFileNotWritable(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	r := runSource(t, b, db, func(c *config.MQTT) { c.BatchSize = 2 }, quiet, "/dev/full")
	bc := b.accept()
	bc.send(1, 1, `not json`)
	bc.send(2, 1, `{"ident":"d","timestamp":1765200000,"speed":4}`)
	if cp, err := bc.readWithin(1500 * time.Millisecond); err == nil {
		t.Fatalf("%v while the rejected file cannot be written", cp)
	}
	if got := counter(t, r.reg, "flespi_exporter_mqtt_batches_held_total"); got < 1 {
		t.Errorf("batches held %v, want at least 1", got)
	}
	if got := counter(t, r.reg, "flespi_exporter_mqtt_messages_acknowledged_total"); got != 0 {
		t.Errorf("acknowledged %v", got)
	}
}

// TestSubscriptionsRefused: a broker that refuses every subscription
// leaves the source not connected (not ready), says why, and is tried
// again with backoff; a QoS 0 grant is shown as a problem.
func TestSubscriptionsRefused(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	var logs tb.Buffer
	s, _ := sourceLogging(t, b, db, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	b.acceptSubscribing(nil, 0x87) // not authorized
	time.Sleep(300 * time.Millisecond)
	if s.Connected() {
		t.Error("connected, though the broker refused every subscription")
	}
	st := s.Status()
	if len(st.Subscriptions) != 1 || !strings.Contains(st.Subscriptions[0], "refused: reason code 0x87") ||
		!strings.Contains(st.LastError, "refused every subscription") {
		t.Errorf("status: %+v", st)
	}
	// Again, after a backoff; granted at QoS 0 this time.
	b.acceptSubscribing(nil, 0)
	deadline := time.Now().Add(5 * time.Second)
	for !s.Connected() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !s.Connected() {
		t.Fatal("not connected with a subscription granted at QoS 0")
	}
	if st := s.Status(); len(st.Subscriptions) != 1 || !strings.Contains(st.Subscriptions[0], "QoS 0") {
		t.Errorf("a QoS 0 grant is not shown: %+v", st.Subscriptions)
	}
	if !strings.Contains(logs.String(), "granted a subscription at QoS 0") {
		t.Errorf("the log does not say QoS 0:\n%s", logs.String())
	}
}

// TestBatchBytes: the source holds at most batch_bytes of payloads beside
// the batch being stored, whatever the broker sends (here messages of
// 100 KB while a store takes 1.5 s); every message is stored in the end.
func TestBatchBytes(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Delay: 1500 * time.Millisecond})
	r := runSource(t, b, db, func(c *config.MQTT) {
		c.BatchSize, c.ReceiveMaximum, c.BatchBytes, c.MaxPacketSize = 100, 100, 300_000, 200_000
	}, quiet, "")
	bc := b.accept()
	pad := strings.Repeat("x", 100_000)
	go func() {
		for i := range 20 {
			bc.send(uint16(i+1), 1, fmt.Sprintf(`{"ident":"big","timestamp":%d,"speed":%d,"pad":"%s"}`, 1765200000+i, i, pad))
		}
	}()
	time.Sleep(700 * time.Millisecond) // the first batch is being stored
	// The batch being stored (up to 3), a full inbox (3) and one waiting
	// for room: 7. Without the bound, all 20.
	if got := counter(t, r.reg, "flespi_exporter_mqtt_messages_received_total"); got > 7 {
		t.Errorf("%v messages of 100 KB taken in with batch_bytes 300 KB", got)
	}
	bc.pubacks(20)
	if n := len(db.Lines()); n != 20 {
		t.Errorf("%d points, want 20", n)
	}
}

// TestShutdownFinishesTheBatch: a batch being stored when the source stops
// is finished and acknowledged before the normal DISCONNECT (it was given
// up, and the broker sent it all again at the next start).
func TestShutdownFinishesTheBatch(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Delay: time.Second})
	r := runSource(t, b, db, func(c *config.MQTT) { c.BatchSize = 3 }, quiet, "")
	bc := b.accept()
	bc.publish(1, 3, false)
	time.Sleep(300 * time.Millisecond) // being stored
	go r.stop()
	var got []string
	for {
		cp, err := bc.readWithin(5 * time.Second)
		if err != nil {
			break
		}
		got = append(got, cp.PacketType())
		if cp.Type == packets.DISCONNECT {
			break
		}
	}
	if strings.Join(got, " ") != "PUBACK PUBACK PUBACK DISCONNECT" {
		t.Errorf("the broker read %v, want the 3 PUBACKs, then DISCONNECT", got)
	}
}

// TestServerReference: a broker that moves the client names the server to
// use instead; the log says it.
func TestServerReference(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	var logs tb.Buffer
	sourceLogging(t, b, db, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	bc := b.accept()
	d := packets.NewControlPacket(packets.DISCONNECT)
	d.Content.(*packets.Disconnect).ReasonCode = 0x9D
	d.Content.(*packets.Disconnect).Properties = &packets.Properties{ServerReference: "mqtt2.example.org:8883"}
	bc.write(d)
	b.accept()
	if !strings.Contains(logs.String(), "mqtt2.example.org:8883") {
		t.Errorf("the log does not name the server:\n%s", logs.String())
	}
}

// TestOversizePacketBacksOff: a broker that ignores the Maximum Packet
// Size the source asked for and sends a larger message on every
// connection gets one clear log line a connection and a growing wait,
// not a reconnect every second.
func TestOversizePacketBacksOff(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	var logs tb.Buffer
	sourceLogging(t, b, db, func(c *config.MQTT) { c.MaxPacketSize = 1000 }, slog.New(slog.NewTextHandler(&logs, nil)))
	big := fmt.Sprintf(`{"ident":"big","timestamp":1765200000,"pad":"%s"}`, strings.Repeat("x", 2000))
	start := time.Now()
	connections := 0
	for time.Since(start) < 8*time.Second {
		select {
		case bc := <-b.conns:
			connections++
			go func() {
				// As acceptWith, without failing the test once the source hangs up.
				if cp, err := bc.readWithin(5 * time.Second); err != nil || cp.Type != packets.CONNECT {
					return
				}
				_, _ = packets.NewControlPacket(packets.CONNACK).WriteTo(bc.c)
				sub, err := bc.readWithin(5 * time.Second)
				if err != nil {
					return
				}
				ack := packets.NewControlPacket(packets.SUBACK)
				ack.Content.(*packets.Suback).PacketID = sub.PacketID()
				ack.Content.(*packets.Suback).Reasons = []byte{1}
				_, _ = ack.WriteTo(bc.c)
				pub := packets.NewControlPacket(packets.PUBLISH)
				p := pub.Content.(*packets.Publish)
				p.Topic, p.QoS, p.PacketID, p.Payload = "flespi/message/gw/devices/1", 1, 1, []byte(big)
				_, _ = pub.WriteTo(bc.c)
				_, _ = bc.readWithin(5 * time.Second) // the source hangs up
				bc.c.Close()
			}()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Waits of 2 s and 4 s: connections at 0, 2 and 6 s.
	if connections > 3 {
		t.Errorf("%d connections in 8 s to a broker sending a packet over the maximum, want at most 3", connections)
	}
	if n := strings.Count(logs.String(), "larger than mqtt.max_packet_size"); n < 1 || n > connections {
		t.Errorf("%d log lines for %d connections:\n%s", n, connections, logs.String())
	}
}
