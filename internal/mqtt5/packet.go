// Package mqtt5 is the subscribing half of an MQTT 5.0 client, as the MQTT
// source needs it: connect with a persistent session, subscribe, read QoS
// 0/1/2 messages, and acknowledge them later, a batch at a time, in one
// write.
//
// It exists because the general clients cost more CPU per message than the
// whole rest of the exporter: paho.golang reads every packet into a
// bytes.Buffer grown and copied twice, then routes it through goroutines
// and an acknowledgement tracker (2.8 times the HTTP path's CPU per message
// in flespi-bench). Here a packet is read in place from the connection's
// buffer: the caller gets views into it, valid until the next packet, and
// copies what it keeps. Reconnecting is the caller's (a Conn is one
// network connection), and so is keeping alive (Ping).
//
// The protocol is MQTT Version 5.0 (OASIS Standard, 2019); section numbers
// in comments refer to it.
package mqtt5

import (
	"encoding/binary"
	"fmt"
)

// Packet types (2.1.2).
const (
	typeConnect    = 1
	typeConnack    = 2
	TypePublish    = 3
	typePuback     = 4
	typePubrec     = 5
	TypePubrel     = 6
	typePubcomp    = 7
	typeSubscribe  = 8
	TypeSuback     = 9
	typePingreq    = 12
	TypePingresp   = 13
	TypeDisconnect = 14
)

// Packet is a packet from the broker. Topic and Payload are views into the
// connection's read buffer, valid until the connection's next Next.
type Packet struct {
	Type byte
	// PUBLISH (3.3): the topic, the payload, QoS 0, 1 or 2, whether the
	// broker sends it again (DUP), and its packet id (QoS 1 and 2).
	Topic    []byte
	Payload  []byte
	QoS      byte
	Dup      bool
	PacketID uint16 // also SUBACK's and PUBREL's
	// SUBACK (3.9): a reason code per topic filter, in order.
	// DISCONNECT (3.14): one reason code.
	Reasons []byte
	// DISCONNECT: the broker's reason string and the server it names to
	// use instead (Server Reference, 4.11), if it sent them.
	ReasonString    string
	ServerReference string
}

// ProtocolError is a packet from the broker that breaks the protocol: the
// client disconnects with Code (4.13).
type ProtocolError struct {
	Code byte
	What string
}

func (e *ProtocolError) Error() string { return "mqtt5: " + e.What + " (" + Reason(e.Code) + ")" }

var errMalformed = &ProtocolError{0x81, "malformed packet"}

// decode fills p from a packet's first byte and its body (what follows
// the remaining length). p's views point into body.
func (p *Packet) decode(first byte, body []byte) error {
	*p = Packet{Type: first >> 4, Reasons: p.Reasons[:0]}
	switch p.Type {
	case TypePublish:
		return p.decodePublish(first&0x0F, body)
	case TypeSuback:
		return p.decodeSuback(body)
	case TypePubrel:
		return p.decodePubrel(first&0x0F, body)
	case TypePingresp:
		return nil
	case TypeDisconnect:
		return p.decodeDisconnect(body)
	}
	return &ProtocolError{0x82, fmt.Sprintf("unexpected packet type %d from the broker", p.Type)}
}

// decodePublish reads a PUBLISH (3.3). QoS 2 comes only from a session
// an earlier client subscribed at QoS 2: it is received all the same
// (Conn.Ack answers PUBREC). Of the properties only a topic alias matters:
// the client allows none (CONNECT says no Topic Alias Maximum), so one is
// a protocol error (0x94), not a message with an empty topic.
func (p *Packet) decodePublish(flags byte, body []byte) error {
	p.Dup, p.QoS = flags&0x08 != 0, flags>>1&0x03
	if p.QoS > 2 {
		return &ProtocolError{0x81, "a PUBLISH of QoS 3"}
	}
	topic, rest, ok := cutString(body)
	if !ok {
		return errMalformed
	}
	p.Topic = topic
	if p.QoS > 0 {
		if len(rest) < 2 {
			return errMalformed
		}
		p.PacketID, rest = binary.BigEndian.Uint16(rest), rest[2:]
		if p.PacketID == 0 {
			return &ProtocolError{0x82, "a PUBLISH with packet id 0"}
		}
	}
	props, rest, ok := cutProperties(rest)
	if !ok {
		return errMalformed
	}
	if len(props) > 0 {
		alias := false
		if err := eachProperty(props, func(id byte, _ []byte) { alias = alias || id == propTopicAlias }); err != nil {
			return err
		}
		if alias {
			return &ProtocolError{0x94, "the broker sent a topic alias, though the client allows none"}
		}
	}
	if len(p.Topic) == 0 {
		return &ProtocolError{0x82, "a PUBLISH without a topic"}
	}
	p.Payload = rest
	return nil
}

// decodePubrel reads a PUBREL (3.6): the broker releases a QoS 2 message
// the client answered with PUBREC; the client completes it (PUBCOMP).
func (p *Packet) decodePubrel(flags byte, body []byte) error {
	if flags != 0x02 || len(body) < 2 {
		return errMalformed
	}
	p.PacketID = binary.BigEndian.Uint16(body)
	return nil
}

// decodeSuback reads a SUBACK (3.9).
func (p *Packet) decodeSuback(body []byte) error {
	if len(body) < 2 {
		return errMalformed
	}
	p.PacketID = binary.BigEndian.Uint16(body)
	_, rest, ok := cutProperties(body[2:])
	if !ok {
		return errMalformed
	}
	p.Reasons = append(p.Reasons, rest...)
	return nil
}

// decodeDisconnect reads a DISCONNECT (3.14): its reason code (0, normal,
// when the body is empty) and reason string.
func (p *Packet) decodeDisconnect(body []byte) error {
	if len(body) == 0 {
		p.Reasons = append(p.Reasons, 0)
		return nil
	}
	p.Reasons = append(p.Reasons, body[0])
	if len(body) == 1 {
		return nil
	}
	props, _, ok := cutProperties(body[1:])
	if !ok {
		return errMalformed
	}
	return eachProperty(props, func(id byte, v []byte) {
		switch id {
		case propReasonString:
			p.ReasonString = string(v)
		case propServerReference:
			p.ServerReference = string(v)
		}
	})
}

// Property identifiers the client writes or reads (2.2.2.2).
const (
	propSessionExpiry    = 0x11
	propAssignedClientID = 0x12
	propServerKeepAlive  = 0x13
	propServerReference  = 0x1C
	propReasonString     = 0x1F
	propReceiveMaximum   = 0x21
	propTopicAlias       = 0x23
	propMaxPacketSize    = 0x27
)

// propertySize is how each property's value is laid out: a fixed number of
// bytes, or one of the variable forms below.
var propertySize = map[byte]int{
	0x01: 1, 0x02: 4, 0x03: sizeString, 0x08: sizeString, 0x09: sizeString, 0x0B: sizeVBI,
	0x11: 4, 0x12: sizeString, 0x13: 2, 0x15: sizeString, 0x16: sizeString, 0x17: 1,
	0x18: 4, 0x19: 1, 0x1A: sizeString, 0x1C: sizeString, 0x1F: sizeString, 0x21: 2,
	0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: sizePair, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}

const (
	sizeString = -1 // two-byte length, then the bytes (UTF-8 string or binary data)
	sizeVBI    = -2 // variable byte integer
	sizePair   = -3 // two strings (user property)
)

// eachProperty calls f with each property of a property list and its
// value (for strings, without the length).
func eachProperty(props []byte, f func(id byte, v []byte)) error {
	for len(props) > 0 {
		id := props[0]
		props = props[1:]
		size, known := propertySize[id]
		if !known {
			return &ProtocolError{0x81, fmt.Sprintf("unknown property 0x%02x", id)}
		}
		var v []byte
		var ok bool
		switch size {
		case sizeString:
			v, props, ok = cutString(props)
		case sizePair:
			if _, props, ok = cutString(props); ok {
				v, props, ok = cutString(props)
			}
		case sizeVBI:
			var n int
			_, n, ok = readVBI(props)
			v, props = props[:n], props[n:]
		default:
			if ok = len(props) >= size; ok {
				v, props = props[:size], props[size:]
			}
		}
		if !ok {
			return errMalformed
		}
		f(id, v)
	}
	return nil
}

// cutString splits a two-byte length and that many bytes off b.
func cutString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 2 {
		return nil, b, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, b, false
	}
	return b[2 : 2+n], b[2+n:], true
}

// cutProperties splits a property list (its length, then the properties)
// off b.
func cutProperties(b []byte) (props, rest []byte, ok bool) {
	n, size, ok := readVBI(b)
	if !ok || len(b) < size+n {
		return nil, b, false
	}
	return b[size : size+n], b[size+n:], true
}

// readVBI reads a variable byte integer (1.5.5) from the start of b: its
// value and its size in bytes.
func readVBI(b []byte) (value, size int, ok bool) {
	for i := 0; i < 4 && i < len(b); i++ {
		value |= int(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return value, i + 1, true
		}
	}
	return 0, 0, false
}

// appendVBI appends n as a variable byte integer.
func appendVBI(b []byte, n int) []byte {
	for {
		digit := byte(n & 0x7F)
		n >>= 7
		if n == 0 {
			return append(b, digit)
		}
		b = append(b, digit|0x80)
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// packet appends a packet of type and flags with body to b.
func packet(b []byte, typeAndFlags byte, body []byte) []byte {
	b = append(b, typeAndFlags)
	b = appendVBI(b, len(body))
	return append(b, body...)
}
