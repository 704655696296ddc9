package mqtt5

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// Brokers that differ from mosquitto, or sessions left by other clients:
// each case below broke the source once.

// TestQoS2: a QoS 2 message (from a session an earlier client subscribed
// at QoS 2) is read, not refused; Ack answers it with PUBREC, and the
// broker's PUBREL with PUBCOMP: the exchange ends, the session goes on.
func TestQoS2(t *testing.T) {
	c, broker := connected(t)
	go write(broker, encode(t, packets.PUBLISH, func(p packets.Packet) {
		pub := p.(*packets.Publish)
		pub.Topic, pub.QoS, pub.PacketID, pub.Payload = "t/2", 2, 9, []byte(`{"ident":"q2"}`)
	}))
	var p Packet
	if err := c.Next(&p); err != nil {
		t.Fatalf("a QoS 2 message: %v", err)
	}
	if p.QoS != 2 || p.PacketID != 9 || string(p.Payload) != `{"ident":"q2"}` {
		t.Errorf("QoS 2: %+v", p)
	}
	if err := c.Ack([]Delivery{{8, 1}, {9, 2}}); err != nil {
		t.Fatal(err)
	}
	if cp := receive(t, broker); cp.Type != packets.PUBACK || cp.PacketID() != 8 {
		t.Errorf("want PUBACK 8, got %v", cp)
	}
	if cp := receive(t, broker); cp.Type != packets.PUBREC || cp.PacketID() != 9 {
		t.Errorf("want PUBREC 9, got %v", cp)
	}
	go write(broker, encode(t, packets.PUBREL, func(p packets.Packet) { p.(*packets.Pubrel).PacketID = 9 }))
	if err := c.Next(&p); err != nil || p.Type != TypePubrel || p.PacketID != 9 {
		t.Fatalf("PUBREL: %+v, %v", p, err)
	}
	if err := c.Complete(p.PacketID); err != nil {
		t.Fatal(err)
	}
	if cp := receive(t, broker); cp.Type != packets.PUBCOMP || cp.PacketID() != 9 {
		t.Errorf("want PUBCOMP 9, got %v", cp)
	}
}

// disconnectedWith reads what the broker gets after the client met a
// protocol error: a DISCONNECT with code, then the end of the connection.
func disconnectedWith(t *testing.T, broker interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}, code byte) {
	t.Helper()
	_ = broker.SetReadDeadline(time.Now().Add(5 * time.Second))
	cp, err := packets.ReadPacket(broker)
	if err != nil {
		t.Fatalf("no DISCONNECT: %v", err)
	}
	if d, ok := cp.Content.(*packets.Disconnect); !ok || d.ReasonCode != code {
		t.Fatalf("want DISCONNECT 0x%02X, got %v", code, cp)
	}
	if _, err := broker.Read(make([]byte, 1)); err == nil {
		t.Error("the connection is still open")
	}
}

// TestMaxPacketSize: CONNECT tells the broker the largest packet the
// client takes; a larger one is not read into memory: the client
// disconnects with 0x95 (packet too large).
func TestMaxPacketSize(t *testing.T) {
	client, broker := pair(t)
	got := make(chan *packets.Connect, 1)
	go func() {
		cp, _ := packets.ReadPacket(broker)
		got <- cp.Content.(*packets.Connect)
		send(t, broker, packets.CONNACK, nil)
	}()
	o := options
	o.MaxPacketSize = 1000
	c, _, err := Connect(context.Background(), client, o, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := (<-got).Properties; p.MaximumPacketSize == nil || *p.MaximumPacketSize != 1000 {
		t.Errorf("CONNECT's Maximum Packet Size: %+v", p)
	}
	// 3 bytes of header and 996 of body fit (999); 3 and 998 do not
	// (1001). Only the header of the second is sent: the client must not
	// wait for the rest.
	fits := append([]byte{0x30, 0xE4, 0x07, 0x00, 0x01, 't', 0x00}, bytes.Repeat([]byte("x"), 992)...)
	go func() { _, _ = broker.Write(append(fits, 0x30, 0xE6, 0x07)) }()
	var p Packet
	if err := c.Next(&p); err != nil || len(p.Payload) != 992 {
		t.Fatalf("a packet of the largest size: %v, payload %d", err, len(p.Payload))
	}
	err = c.Next(&p)
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != 0x95 || !strings.Contains(err.Error(), "mqtt.max_packet_size") {
		t.Fatalf("a packet too large: %v", err)
	}
	disconnectedWith(t, broker, 0x95)
}

// TestTopicAlias: the client allows no topic alias; a broker that sends
// one anyway gets a DISCONNECT 0x94, not a message with an empty topic.
func TestTopicAlias(t *testing.T) {
	c, broker := connected(t)
	go write(broker, encode(t, packets.PUBLISH, func(p packets.Packet) {
		pub := p.(*packets.Publish)
		pub.Topic, pub.QoS, pub.PacketID, pub.Payload = "", 1, 3, []byte(`{}`)
		pub.Properties = &packets.Properties{TopicAlias: u16(1)}
	}))
	var p Packet
	err := c.Next(&p)
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != 0x94 {
		t.Fatalf("a topic alias: %v, %+v", err, p)
	}
	disconnectedWith(t, broker, 0x94)
}

// TestServerReference: the server a broker names when it moves the client
// (DISCONNECT or a refused CONNECT) is kept, to be logged.
func TestServerReference(t *testing.T) {
	c, broker := connected(t)
	go write(broker, encode(t, packets.DISCONNECT, func(p packets.Packet) {
		d := p.(*packets.Disconnect)
		d.ReasonCode, d.Properties = 0x9D, &packets.Properties{ServerReference: "mqtt2.example.org:8883"}
	}))
	var p Packet
	if err := c.Next(&p); err != nil || p.ServerReference != "mqtt2.example.org:8883" {
		t.Errorf("DISCONNECT: %+v, %v", p, err)
	}

	client, broker := pair(t)
	go func() {
		_, _ = packets.ReadPacket(broker)
		send(t, broker, packets.CONNACK, func(p packets.Packet) {
			ca := p.(*packets.Connack)
			ca.ReasonCode, ca.Properties = 0x9C, &packets.Properties{ServerReference: "mqtt3.example.org"}
		})
	}()
	_, _, err := Connect(context.Background(), client, options, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "mqtt3.example.org") {
		t.Errorf("refused with a server reference: %v", err)
	}
}

// TestConnectHonoursContext: ending the context ends a CONNECT the broker
// does not answer at once, not after its timeout.
func TestConnectHonoursContext(t *testing.T) {
	client, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := Connect(ctx, client, options, 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's end", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect returned after %v", d)
	}
}

// FuzzConnack: whatever the broker answers CONNECT with, Connect returns a
// session or an error, never a panic.
func FuzzConnack(f *testing.F) {
	f.Add([]byte{0x20, 0x03, 0x01, 0x00, 0x00})
	f.Add([]byte{0x20, 0x0A, 0x00, 0x00, 0x07, 0x11, 0x00, 0x00, 0x0E, 0x10, 0x13, 0x00, 0x0A})
	f.Add([]byte{0x20, 0x09, 0x00, 0x9C, 0x06, 0x1C, 0x00, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, answer []byte) {
		nc := &scriptConn{in: bytes.NewReader(answer)}
		c, ack, err := Connect(context.Background(), nc, options, time.Second)
		if err == nil && (c == nil || ack == nil) {
			t.Fatal("no error and no session")
		}
	})
}

// scriptConn is a connection that reads a script and takes every write.
type scriptConn struct {
	net.Conn
	in *bytes.Reader
}

func (c *scriptConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// encode is a packet of typ, filled by fill, as bytes to write from
// another goroutine (which must not call t.Fatal).
func encode(t *testing.T, typ byte, fill func(packets.Packet)) []byte {
	t.Helper()
	cp := packets.NewControlPacket(typ)
	fill(cp.Content)
	var b bytes.Buffer
	if _, err := cp.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(w io.Writer, b []byte) { _, _ = w.Write(b) }
