package mqtt5

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// The broker's side of these tests reads and writes packets with
// paho.golang's codec: another implementation of the same standard, so that
// a misreading of the standard here shows instead of agreeing with itself.

// pair is a client's connection and the broker's end of it, on loopback.
func pair(t *testing.T) (client, broker net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	broker = <-accepted
	t.Cleanup(func() { client.Close(); broker.Close() })
	return client, broker
}

func send(t *testing.T, w net.Conn, typ byte, fill func(content packets.Packet)) {
	t.Helper()
	cp := packets.NewControlPacket(typ)
	if fill != nil {
		fill(cp.Content)
	}
	if _, err := cp.WriteTo(w); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, r net.Conn) *packets.ControlPacket {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	cp, err := packets.ReadPacket(r)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }

var options = Options{
	ClientID: "exporter-1", Username: "token", Password: []byte("token"),
	SessionExpiry: 24 * time.Hour, ReceiveMaximum: 1000, KeepAlive: 30 * time.Second,
}

// connected is a Conn after a CONNACK that accepted options, and the
// broker's end.
func connected(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	client, broker := pair(t)
	go func() {
		_, _ = packets.ReadPacket(broker)
		cp := packets.NewControlPacket(packets.CONNACK)
		_, _ = cp.WriteTo(broker)
	}()
	c, _, err := Connect(context.Background(), client, options, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, broker
}

// TestConnect: CONNECT asks for a persistent session with the session
// expiry and receive maximum, and CONNACK's answer is read: session
// present, the expiry granted, the broker's keep-alive.
func TestConnect(t *testing.T) {
	client, broker := pair(t)
	got := make(chan *packets.Connect, 1)
	go func() {
		cp, err := packets.ReadPacket(broker)
		if err != nil {
			got <- nil
			return
		}
		got <- cp.Content.(*packets.Connect)
		ack := packets.NewControlPacket(packets.CONNACK)
		ca := ack.Content.(*packets.Connack)
		ca.SessionPresent = true
		ca.Properties = &packets.Properties{SessionExpiryInterval: u32(3600), ServerKeepAlive: u16(10), ReasonString: "hello"}
		_, _ = ack.WriteTo(broker)
	}()
	c, ack, err := Connect(context.Background(), client, options, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cn := <-got
	if cn == nil {
		t.Fatal("the broker could not read CONNECT")
	}
	if cn.ProtocolVersion != 5 || cn.ClientID != "exporter-1" || cn.Username != "token" || string(cn.Password) != "token" ||
		cn.CleanStart || cn.KeepAlive != 30 {
		t.Errorf("CONNECT: %+v", cn)
	}
	if p := cn.Properties; p.SessionExpiryInterval == nil || *p.SessionExpiryInterval != 86400 || p.ReceiveMaximum == nil || *p.ReceiveMaximum != 1000 {
		t.Errorf("CONNECT properties: %+v", p)
	}
	if !ack.SessionPresent || ack.SessionExpiry != time.Hour {
		t.Errorf("CONNACK: %+v", ack)
	}
	if c.KeepAlive() != 10*time.Second {
		t.Errorf("keep-alive %v, want the broker's 10s", c.KeepAlive())
	}
}

// TestRefused: a refusal is a RefusedError that says why, a refused token
// is told apart, and a broker of MQTT 3.1.1 (which answers a version 5
// CONNECT in its own form) is named as such.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		answer   []byte
		want     string
		badToken bool
	}{
		{connack(t, 0x86, "token unknown"), "reason code 0x86 (bad user name or password): token unknown", true},
		{connack(t, 0x87, ""), "reason code 0x87 (not authorized)", true},
		{connack(t, 0x89, ""), "reason code 0x89 (server busy)", false},
		{[]byte{0x20, 0x02, 0x00, 0x01}, "does not speak MQTT 5", false},
		{[]byte{0x20, 0x02, 0x00, 0x05}, "not authorized", true},
	} {
		client, broker := pair(t)
		go func() {
			_, _ = packets.ReadPacket(broker)
			_, _ = broker.Write(tc.answer)
		}()
		_, _, err := Connect(context.Background(), client, options, 5*time.Second)
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) || re.BadCredentials() != tc.badToken {
			t.Errorf("answer % x: %v, want a refusal with %q (bad token %v)", tc.answer, err, tc.want, tc.badToken)
		}
	}
}

func connack(t *testing.T, code byte, reason string) []byte {
	cp := packets.NewControlPacket(packets.CONNACK)
	ca := cp.Content.(*packets.Connack)
	ca.ReasonCode = code
	ca.Properties = &packets.Properties{ReasonString: reason}
	var b bytes.Buffer
	if _, err := cp.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestConnectTimeout: a broker that never answers CONNECT is given up.
func TestConnectTimeout(t *testing.T) {
	client, _ := pair(t)
	_, _, err := Connect(context.Background(), client, options, 100*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("got %v, want a timeout", err)
	}
}

// TestRead: what the broker sends is read as sent: messages of QoS 1 (with
// properties, sent again) and 0, one larger than the read buffer, the
// subscription's answer, a ping's answer, and a DISCONNECT with its reason.
func TestRead(t *testing.T) {
	c, broker := connected(t)
	big := bytes.Repeat([]byte("x"), 3*readBuffer)
	go func() {
		send(t, broker, packets.PUBLISH, func(p packets.Packet) {
			pub := p.(*packets.Publish)
			pub.Topic, pub.QoS, pub.PacketID, pub.Duplicate, pub.Payload = "flespi/message/gw/devices/1", 1, 7, true, []byte(`{"ident":"a"}`)
			pub.Properties = &packets.Properties{MessageExpiry: u32(60), User: []packets.User{{Key: "timestamp", Value: "1717171200"}}}
		})
		send(t, broker, packets.PUBLISH, func(p packets.Packet) {
			pub := p.(*packets.Publish)
			pub.Topic, pub.Payload = "t/0", []byte(`{}`)
		})
		send(t, broker, packets.PUBLISH, func(p packets.Packet) {
			pub := p.(*packets.Publish)
			pub.Topic, pub.QoS, pub.PacketID, pub.Payload = "t/big", 1, 8, big
		})
		send(t, broker, packets.SUBACK, func(p packets.Packet) {
			sa := p.(*packets.Suback)
			sa.PacketID, sa.Reasons = 1, []byte{1, 0x87}
		})
		send(t, broker, packets.PINGRESP, nil)
		send(t, broker, packets.DISCONNECT, func(p packets.Packet) {
			d := p.(*packets.Disconnect)
			d.ReasonCode, d.Properties = 0x8E, &packets.Properties{ReasonString: "another client took the session"}
		})
	}()
	var p Packet
	next := func() *Packet {
		t.Helper()
		if err := c.Next(&p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	if p := next(); p.Type != TypePublish || string(p.Topic) != "flespi/message/gw/devices/1" || p.QoS != 1 || p.PacketID != 7 || !p.Dup ||
		string(p.Payload) != `{"ident":"a"}` {
		t.Errorf("QoS 1: %+v", p)
	}
	if p := next(); p.Type != TypePublish || string(p.Topic) != "t/0" || p.QoS != 0 || p.PacketID != 0 || p.Dup || string(p.Payload) != `{}` {
		t.Errorf("QoS 0: %+v", p)
	}
	if p := next(); p.Type != TypePublish || string(p.Topic) != "t/big" || p.PacketID != 8 || !bytes.Equal(p.Payload, big) {
		t.Errorf("big: topic %q id %d, %d bytes", p.Topic, p.PacketID, len(p.Payload))
	}
	if p := next(); p.Type != TypeSuback || p.PacketID != 1 || !bytes.Equal(p.Reasons, []byte{1, 0x87}) {
		t.Errorf("SUBACK: %+v", p)
	}
	if p := next(); p.Type != TypePingresp {
		t.Errorf("PINGRESP: %+v", p)
	}
	if p := next(); p.Type != TypeDisconnect || p.Reasons[0] != 0x8E || p.ReasonString != "another client took the session" {
		t.Errorf("DISCONNECT: %+v", p)
	}
}

// TestWrite: SUBSCRIBE, the PUBACKs of a batch (in order, QoS 0 messages
// left out), PINGREQ and DISCONNECT are what the broker reads.
func TestWrite(t *testing.T) {
	c, broker := connected(t)
	if err := c.Subscribe(1, []Subscription{{"$share/g/flespi/message/gw/devices/+", 1}, {"t/#", 0}}); err != nil {
		t.Fatal(err)
	}
	sub := receive(t, broker)
	s, ok := sub.Content.(*packets.Subscribe)
	if !ok || s.PacketID != 1 || len(s.Subscriptions) != 2 || s.Subscriptions[0].Topic != "$share/g/flespi/message/gw/devices/+" ||
		s.Subscriptions[0].QoS != 1 || s.Subscriptions[1].Topic != "t/#" || s.Subscriptions[1].QoS != 0 {
		t.Errorf("SUBSCRIBE: %v", sub)
	}
	if err := c.Ack([]Delivery{{5, 1}, {0, 0}, {700, 1}, {65535, 1}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint16{5, 700, 65535} {
		cp := receive(t, broker)
		if a, ok := cp.Content.(*packets.Puback); !ok || a.PacketID != id || a.ReasonCode != 0 {
			t.Errorf("want PUBACK %d, got %v", id, cp)
		}
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if cp := receive(t, broker); cp.Type != packets.PINGREQ {
		t.Errorf("want PINGREQ, got %v", cp)
	}
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if cp := receive(t, broker); cp.Type != packets.DISCONNECT || cp.Content.(*packets.Disconnect).ReasonCode != 0 {
		t.Errorf("want a normal DISCONNECT, got %v", cp)
	}
}

// TestSilentBroker: with no byte from the broker for one and a half
// keep-alive intervals, Next gives up (a link that died without a word).
func TestSilentBroker(t *testing.T) {
	client, broker := pair(t)
	go func() {
		_, _ = packets.ReadPacket(broker)
		send(t, broker, packets.CONNACK, func(p packets.Packet) {
			p.(*packets.Connack).Properties = &packets.Properties{ServerKeepAlive: u16(1)}
		})
	}()
	c, _, err := Connect(context.Background(), client, options, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var p Packet
		done <- c.Next(&p)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("got %v, want a deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still waits for a silent broker")
	}
}

// TestMalformed: packets cut short or not for a client are errors, never a
// panic or a read past the packet.
func TestMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x32, 0x01, 0x00},                        // QoS 1 PUBLISH, topic length cut
		{0x32, 0x04, 0x00, 0x01, 't', 0x00},       // no room for the packet id
		{0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01}, // properties longer than the packet
		{0x34, 0x03, 0x00, 0x01, 't'},             // QoS 2 without its packet id
		{0x90, 0x01, 0x00},                        // SUBACK without its packet id
		{0xE0, 0x03, 0x8E, 0x01, 0x7F},            // DISCONNECT with an unknown property
		{0x10, 0x00},                              // CONNECT from the broker
		{0x30, 0xFF, 0xFF, 0xFF, 0xFF},            // remaining length of five bytes
	} {
		c, broker := connected(t)
		go func() { _, _ = broker.Write(b) }()
		var p Packet
		if err := c.Next(&p); err == nil {
			t.Errorf("% x: no error: %+v", b, p)
		}
	}
}

// FuzzNext: whatever the broker sends, Next returns a packet or an error.
func FuzzNext(f *testing.F) {
	f.Add([]byte{0x32, 0x0A, 0x00, 0x01, 't', 0x00, 0x07, 0x02, 0x01, 0x01, '{', '}'})
	f.Add([]byte{0x90, 0x04, 0x00, 0x01, 0x00, 0x01})
	f.Add([]byte{0xE0, 0x08, 0x8E, 0x06, 0x1F, 0x00, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		nc := &scriptConn{in: bytes.NewReader(b)} // takes the DISCONNECT a protocol error writes
		c := &Conn{nc: nc}
		c.r = newReader(nc)
		var p Packet
		for c.Next(&p) == nil {
			if len(p.Payload) > len(b) || len(p.Topic) > len(b) {
				t.Fatalf("views longer than the input: %+v", p)
			}
		}
	})
}

// TestNoKeepAliveNoDeadline: with keep-alive off (0), reading has no
// deadline, not even CONNECT's timeout.
func TestNoKeepAliveNoDeadline(t *testing.T) {
	client, broker := pair(t)
	go func() {
		_, _ = packets.ReadPacket(broker)
		send(t, broker, packets.CONNACK, nil)
		time.Sleep(400 * time.Millisecond) // longer than CONNECT's timeout below
		send(t, broker, packets.PINGRESP, nil)
	}()
	o := options
	o.KeepAlive = 0
	c, _, err := Connect(context.Background(), client, o, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := c.Next(&p); err != nil || p.Type != TypePingresp {
		t.Errorf("got %v %+v, want the PINGRESP sent after CONNECT's timeout", err, p)
	}
}

// cutConn is a connection whose writes stop after limit bytes: the first
// write that passes it writes what fits and fails.
type cutConn struct {
	net.Conn
	limit   int
	written []byte
	closed  bool
}

func (c *cutConn) Write(b []byte) (int, error) {
	n := min(len(b), c.limit-len(c.written))
	c.written = append(c.written, b[:n]...)
	if n < len(b) {
		return n, errors.New("connection reset by peer")
	}
	return n, nil
}

func (c *cutConn) Close() error                     { c.closed = true; return nil }
func (c *cutConn) SetWriteDeadline(time.Time) error { return nil }

// TestWriteErrorClosesConnection: a PUBACK write cut short closes the
// connection, and no later packet is written after the cut bytes (the
// broker would read them as the rest of the cut PUBACK: another message
// acknowledged than the one stored).
func TestWriteErrorClosesConnection(t *testing.T) {
	nc := &cutConn{limit: 6} // one PUBACK (4 bytes) and half of the next
	c := &Conn{nc: nc}
	if err := c.Ack([]Delivery{{1, 1}, {2, 1}}); err == nil {
		t.Fatal("a cut write returned no error")
	}
	if !nc.closed {
		t.Error("the connection stays open after a failed write")
	}
	nc.limit = 1 << 20 // the network would take more now
	if err := c.Ack([]Delivery{{3, 1}}); err == nil {
		t.Error("a write after a failed one succeeded")
	}
	if err := c.Ping(); err == nil {
		t.Error("a ping after a failed write succeeded")
	}
	if len(nc.written) != 6 {
		t.Errorf("%d bytes written in all, want the 6 of the cut write and nothing after", len(nc.written))
	}
}
