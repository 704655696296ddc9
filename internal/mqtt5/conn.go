package mqtt5

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Options are what CONNECT (3.1) asks of the broker.
type Options struct {
	ClientID string
	Username string
	Password []byte
	// CleanStart false resumes the session of ClientID, if the broker
	// still has one.
	CleanStart bool
	// SessionExpiry is how long the broker keeps the session after the
	// connection ends (whole seconds; MQTT 5 lets the broker shorten it).
	SessionExpiry time.Duration
	// ReceiveMaximum is how many QoS 1 messages the broker sends before
	// they are acknowledged.
	ReceiveMaximum uint16
	// KeepAlive is the longest the client stays silent; the caller pings
	// at this interval (Conn.KeepAlive, which the broker may override).
	KeepAlive time.Duration
	// MaxPacketSize is the largest packet the broker may send (whole,
	// header included); a larger one ends the connection (0x95). The
	// broker drops a message that would not fit, unsent (3.1.2.11.4).
	// 0: MQTT's limit, 256 MiB.
	MaxPacketSize int
}

// Connack is the broker's answer to CONNECT (3.2).
type Connack struct {
	SessionPresent bool
	// SessionExpiry is what the broker granted: Options.SessionExpiry
	// unless it said otherwise.
	SessionExpiry time.Duration
	// AssignedClientID is set when the client sent none.
	AssignedClientID string
}

// RefusedError is a CONNACK with a reason code of 0x80 or more: the broker
// refused the connection.
type RefusedError struct {
	Code   byte
	Reason string // the broker's reason string, if any
	// ServerReference is the server the broker names instead (0x9C use
	// another server, 0x9D server moved), if any.
	ServerReference string
}

func (e *RefusedError) Error() string {
	s := "the broker refused the connection: " + Reason(e.Code)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.ServerReference != "" {
		s += "; it names another server: " + e.ServerReference
	}
	return s
}

// BadCredentials reports whether the broker refused the username or
// password (for flespi: the token).
func (e *RefusedError) BadCredentials() bool {
	// 0x04 and 0x05 are MQTT 3.1.1's return codes for the same, which a
	// broker may answer a version it does not speak with.
	return e.Code == 0x86 || e.Code == 0x87 || e.Code == 0x04 || e.Code == 0x05
}

// Reason says what a reason code of CONNACK, SUBACK or DISCONNECT means:
// "reason code 0x8B (server shutting down)".
func Reason(code byte) string {
	name, ok := reasonNames[code]
	if !ok {
		name = "see MQTT 5.0 section 2.4"
	}
	return fmt.Sprintf("reason code 0x%02X (%s)", code, name)
}

// reasonNames are the reason codes (2.4) a broker answers a subscriber
// with, and 3.1.1's CONNACK codes that differ.
var reasonNames = map[byte]string{
	0x01: "unacceptable protocol version: the broker does not speak MQTT 5",
	0x04: "bad user name or password",
	0x05: "not authorized",
	0x80: "unspecified error",
	0x81: "malformed packet",
	0x82: "protocol error",
	0x83: "implementation specific error",
	0x84: "unsupported protocol version",
	0x85: "client identifier not valid",
	0x86: "bad user name or password",
	0x87: "not authorized",
	0x88: "server unavailable",
	0x89: "server busy",
	0x8A: "banned",
	0x8B: "server shutting down",
	0x8D: "keep alive timeout",
	0x8E: "session taken over: another client connected with this client id",
	0x8F: "topic filter invalid",
	0x93: "receive maximum exceeded",
	0x94: "topic alias invalid",
	0x95: "packet too large",
	0x97: "quota exceeded",
	0x98: "administrative action",
	0x9C: "use another server",
	0x9D: "server moved",
	0x9E: "shared subscriptions not supported",
	0x9F: "connection rate exceeded",
	0xA2: "wildcard subscriptions not supported",
}

// Conn is one MQTT connection after a successful CONNECT. Next is for one
// goroutine (the reader); Ack, Ping, Subscribe and Disconnect may be called
// from any.
type Conn struct {
	nc        net.Conn
	r         *bufio.Reader
	held      int    // bytes of the last packet, left in r until the next Next
	big       []byte // a packet larger than r's buffer
	keepAlive time.Duration
	maxPacket int // 0: no limit but MQTT's
	// readTimeout bounds the wait for the broker: CONNECT's timeout, then
	// one and a half keep-alive intervals (3.1.2.10). 0: none.
	readTimeout time.Duration

	wmu    sync.Mutex
	wbuf   []byte
	broken error // a write failed: the connection is closed, nothing more is written
}

// readBuffer holds many messages per system call, and any packet up to
// its size is read in place.
const readBuffer = 64 << 10

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, readBuffer) }

// writeTimeout bounds a write to a broker that stopped reading.
const writeTimeout = 10 * time.Second

// Connect sends CONNECT over nc and waits up to timeout for CONNACK, or
// until ctx ends. On success the Conn owns nc; on error the caller closes
// it.
func Connect(ctx context.Context, nc net.Conn, o Options, timeout time.Duration) (*Conn, *Connack, error) {
	c := &Conn{nc: nc, keepAlive: o.KeepAlive, readTimeout: timeout, maxPacket: o.MaxPacketSize}
	c.r = newReader(deadlineReader{c})
	// The read below sets its own deadlines: ending ctx closes nc instead.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	if err := c.write(appendConnect(nil, &o)); err != nil {
		return nil, nil, err
	}
	first, body, err := c.read()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("waiting for CONNACK: %w", ctx.Err())
		}
		return nil, nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if first>>4 != typeConnack {
		return nil, nil, fmt.Errorf("mqtt5: packet type %d where CONNACK was due", first>>4)
	}
	ack, err := c.decodeConnack(body, o.SessionExpiry)
	if err != nil {
		return nil, nil, err
	}
	// From now on each read of the buffer sets its own deadline (none
	// without a keep-alive): CONNECT's is lifted.
	_ = nc.SetReadDeadline(time.Time{})
	c.readTimeout = c.keepAlive * 3 / 2
	return c, ack, nil
}

// appendConnect appends a CONNECT packet (3.1).
func appendConnect(b []byte, o *Options) []byte {
	flags := byte(0)
	if o.Username != "" {
		flags |= 0x80
	}
	if o.Password != nil {
		flags |= 0x40
	}
	if o.CleanStart {
		flags |= 0x02
	}
	body := appendString(nil, "MQTT")
	body = append(body, 5, flags)
	body = binary.BigEndian.AppendUint16(body, uint16(o.KeepAlive/time.Second))
	var props []byte
	if o.SessionExpiry > 0 {
		props = append(props, propSessionExpiry)
		props = binary.BigEndian.AppendUint32(props, uint32(o.SessionExpiry/time.Second))
	}
	if o.ReceiveMaximum > 0 {
		props = append(props, propReceiveMaximum)
		props = binary.BigEndian.AppendUint16(props, o.ReceiveMaximum)
	}
	if o.MaxPacketSize > 0 {
		props = append(props, propMaxPacketSize)
		props = binary.BigEndian.AppendUint32(props, uint32(o.MaxPacketSize))
	}
	body = appendVBI(body, len(props))
	body = append(body, props...)
	body = appendString(body, o.ClientID)
	if o.Username != "" {
		body = appendString(body, o.Username)
	}
	if o.Password != nil {
		body = appendString(body, string(o.Password))
	}
	return packet(b, typeConnect<<4, body)
}

// decodeConnack reads CONNACK (3.2); a refusal is a *RefusedError.
func (c *Conn) decodeConnack(body []byte, askedExpiry time.Duration) (*Connack, error) {
	if len(body) < 2 {
		return nil, errMalformed
	}
	ack := &Connack{SessionPresent: body[0]&1 != 0, SessionExpiry: askedExpiry}
	code := body[1]
	var reason, server string
	if len(body) > 2 {
		props, _, ok := cutProperties(body[2:])
		if !ok {
			return nil, errMalformed
		}
		err := eachProperty(props, func(id byte, v []byte) {
			switch id {
			case propSessionExpiry:
				ack.SessionExpiry = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
			case propServerKeepAlive:
				c.keepAlive = time.Duration(binary.BigEndian.Uint16(v)) * time.Second
			case propAssignedClientID:
				ack.AssignedClientID = string(v)
			case propReasonString:
				reason = string(v)
			case propServerReference:
				server = string(v)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	if code != 0 {
		return nil, &RefusedError{Code: code, Reason: reason, ServerReference: server}
	}
	return ack, nil
}

// KeepAlive is the interval at which to Ping: the client's, or the
// broker's when it named one (3.2.2.3.14). 0: no keep-alive.
func (c *Conn) KeepAlive() time.Duration { return c.keepAlive }

// Next reads the next packet from the broker into p: PUBLISH, PUBREL,
// SUBACK, PINGRESP or DISCONNECT. p's views stay valid until the next
// call. Without a byte for one and a half keep-alive intervals the
// connection counts as lost (3.1.2.10). A packet that breaks the protocol
// (a *ProtocolError) ends the connection with a DISCONNECT that says why
// (4.13).
func (c *Conn) Next(p *Packet) error {
	first, body, err := c.read()
	if err == nil {
		err = p.decode(first, body)
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		_ = c.write([]byte{TypeDisconnect << 4, 1, pe.Code})
		c.nc.Close()
	}
	return err
}

// read reads one packet: its first byte and its body.
func (c *Conn) read() (byte, []byte, error) {
	if c.held > 0 {
		_, _ = c.r.Discard(c.held) // in the buffer already
		c.held = 0
	}
	if len(c.big) > readBuffer*16 {
		c.big = nil // not kept beyond the packet that needed it
	}
	first, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := c.readLength()
	if err != nil {
		return 0, nil, err
	}
	if size := 1 + len(appendVBI(nil, n)) + n; c.maxPacket > 0 && size > c.maxPacket {
		// Not read: the connection ends here.
		return 0, nil, &ProtocolError{0x95, fmt.Sprintf("a packet of %d bytes, larger than the %d bytes the client allows (mqtt.max_packet_size)", size, c.maxPacket)}
	}
	if n <= c.r.Size() {
		body, err := c.r.Peek(n)
		if err != nil {
			return 0, nil, err
		}
		c.held = n
		return first, body, nil
	}
	// Grown as the bytes come, not allocated at the length the packet
	// claims.
	buf := bytes.NewBuffer(c.big[:0])
	if _, err := io.CopyN(buf, c.r, int64(n)); err != nil {
		return 0, nil, err
	}
	c.big = buf.Bytes()
	return first, c.big, nil
}

// readLength reads the remaining length (2.1.4).
func (c *Conn) readLength() (int, error) {
	n := 0
	for i := range 4 {
		b, err := c.r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			return n, nil
		}
	}
	return 0, errMalformed
}

// deadlineReader reads from the connection with the Conn's read timeout,
// set once per read of the buffer (not per packet).
type deadlineReader struct{ c *Conn }

func (d deadlineReader) Read(p []byte) (int, error) {
	if t := d.c.readTimeout; t > 0 {
		_ = d.c.nc.SetReadDeadline(time.Now().Add(t))
	}
	return d.c.nc.Read(p)
}

// Subscription is a topic filter and the highest QoS to receive it with.
type Subscription struct {
	Topic string
	QoS   byte
}

// Subscribe sends SUBSCRIBE (3.8) with packetID; the broker answers with a
// SUBACK that Next returns.
func (c *Conn) Subscribe(packetID uint16, subs []Subscription) error {
	body := binary.BigEndian.AppendUint16(nil, packetID)
	body = append(body, 0) // no properties
	for _, s := range subs {
		body = appendString(body, s.Topic)
		body = append(body, s.QoS&0x03)
	}
	return c.write(packet(nil, typeSubscribe<<4|0x02, body))
}

// Delivery is a received message as its acknowledgement names it.
type Delivery struct {
	PacketID uint16
	QoS      byte
}

// Ack acknowledges these messages in one write, in the order in which they
// came, which the broker requires (4.6): PUBACK for QoS 1, PUBREC for QoS
// 2 (the broker then releases it with PUBREL, which Complete answers);
// QoS 0 messages are skipped.
func (c *Conn) Ack(ds []Delivery) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, d := range ds {
		// Without a reason code: success (3.4.2.1, 3.5.2.1).
		switch d.QoS {
		case 1:
			c.wbuf = append(c.wbuf, typePuback<<4, 2, byte(d.PacketID>>8), byte(d.PacketID))
		case 2:
			c.wbuf = append(c.wbuf, typePubrec<<4, 2, byte(d.PacketID>>8), byte(d.PacketID))
		}
	}
	return c.writeLocked(c.wbuf)
}

// Complete answers a PUBREL with PUBCOMP (3.7): the QoS 2 exchange of
// that packet id ends. The client sends PUBREC only once the message is
// stored, so a PUBREL (also one resent after a reconnect) names a stored
// message.
func (c *Conn) Complete(packetID uint16) error {
	return c.write([]byte{typePubcomp << 4, 2, byte(packetID >> 8), byte(packetID)})
}

// Ping sends PINGREQ (3.12); the broker answers with PINGRESP.
func (c *Conn) Ping() error { return c.write([]byte{typePingreq << 4, 0}) }

// Disconnect sends a normal DISCONNECT (3.14): the session stays with the
// broker for its expiry. The reason code is written out, though MQTT
// allows leaving it: some implementations cannot read the short form.
func (c *Conn) Disconnect() error { return c.write([]byte{TypeDisconnect << 4, 1, 0}) }

// Close closes the network connection; a blocked Next returns.
func (c *Conn) Close() error { return c.nc.Close() }

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

// writeLocked writes b whole or closes the connection: after a write cut
// short, the next packet would be read by the broker from the middle of
// the last one (a PUBACK for another message than the one stored), so a
// failed write ends the connection and every later write fails.
func (c *Conn) writeLocked(b []byte) error {
	if c.broken != nil {
		return c.broken
	}
	if len(b) == 0 {
		return nil
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.broken = fmt.Errorf("writing to the broker: %w; the connection is closed", err)
		c.nc.Close()
		return c.broken
	}
	return nil
}
