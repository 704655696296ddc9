package mqtt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/eclipse/paho.golang/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// A broker in the test, speaking through paho.golang's codec, for what a
// real one (e2e, mosquitto) cannot be made to do on cue: hold a
// connection's acknowledgements up to the test, send beyond the receive
// maximum, drop a connection between a message and its acknowledgement.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type broker struct {
	t     *testing.T
	l     net.Listener
	conns chan *brokerConn
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, l: l, conns: make(chan *brokerConn, 4)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.conns <- &brokerConn{t: t, c: c}
		}
	}()
	t.Cleanup(func() { l.Close() })
	return b
}

// accept waits for a client's CONNECT and SUBSCRIBE and accepts both.
func (b *broker) accept() *brokerConn {
	b.t.Helper()
	return b.acceptWith(nil)
}

// acceptWith is accept with CONNACK properties.
func (b *broker) acceptWith(props *packets.Properties) *brokerConn {
	b.t.Helper()
	return b.acceptSubscribing(props, 1)
}

// acceptSubscribing accepts a connection and answers its SUBSCRIBE with
// reason (the QoS granted, or a refusal).
func (b *broker) acceptSubscribing(props *packets.Properties, reason byte) *brokerConn {
	b.t.Helper()
	var bc *brokerConn
	select {
	case bc = <-b.conns:
	case <-time.After(10 * time.Second):
		b.t.Fatal("the source did not connect")
	}
	b.t.Cleanup(func() { bc.c.Close() })
	if cp := bc.read(); cp.Type != packets.CONNECT {
		b.t.Fatalf("want CONNECT, got %v", cp)
	}
	connack := packets.NewControlPacket(packets.CONNACK)
	connack.Content.(*packets.Connack).Properties = props
	bc.write(connack)
	sub := bc.read()
	if sub.Type != packets.SUBSCRIBE {
		b.t.Fatalf("want SUBSCRIBE, got %v", sub)
	}
	ack := packets.NewControlPacket(packets.SUBACK)
	ack.Content.(*packets.Suback).PacketID = sub.PacketID()
	ack.Content.(*packets.Suback).Reasons = []byte{reason}
	bc.write(ack)
	return bc
}

type brokerConn struct {
	t *testing.T
	c net.Conn
}

func (bc *brokerConn) read() *packets.ControlPacket {
	bc.t.Helper()
	cp, err := bc.readWithin(10 * time.Second)
	if err != nil {
		bc.t.Fatal(err)
	}
	return cp
}

func (bc *brokerConn) readWithin(d time.Duration) (*packets.ControlPacket, error) {
	_ = bc.c.SetReadDeadline(time.Now().Add(d))
	return packets.ReadPacket(bc.c)
}

func (bc *brokerConn) write(cp *packets.ControlPacket) {
	bc.t.Helper()
	if _, err := cp.WriteTo(bc.c); err != nil {
		bc.t.Fatal(err)
	}
}

// publish sends QoS 1 messages with packet ids from first on, each a
// message of device ident with speed i.
func (bc *brokerConn) publish(first uint16, n int, dup bool) {
	bc.t.Helper()
	for i := range n {
		cp := packets.NewControlPacket(packets.PUBLISH)
		p := cp.Content.(*packets.Publish)
		p.Topic, p.QoS, p.PacketID, p.Duplicate = "flespi/message/gw/devices/1", 1, first+uint16(i), dup
		p.Payload = fmt.Appendf(nil, `{"ident":"d%d","timestamp":%d,"speed":%d}`, int(first)+i, 1717171200+i, int(first)+i)
		bc.write(cp)
	}
}

// send publishes one payload with QoS qos and packet id id.
func (bc *brokerConn) send(id uint16, qos byte, payload string) {
	bc.t.Helper()
	cp := packets.NewControlPacket(packets.PUBLISH)
	p := cp.Content.(*packets.Publish)
	p.Topic, p.QoS, p.PacketID, p.Payload = "flespi/message/gw/devices/1", qos, id, []byte(payload)
	bc.write(cp)
}

// pubacks reads n PUBACKs and returns their packet ids in order.
func (bc *brokerConn) pubacks(n int) []uint16 {
	bc.t.Helper()
	var ids []uint16
	for len(ids) < n {
		cp := bc.read()
		if cp.Type == packets.PUBACK {
			ids = append(ids, cp.PacketID())
		}
	}
	return ids
}

// source runs a Source against b and a fake InfluxDB until the test ends.
func source(t *testing.T, b *broker, db *fakeinflux.Server, tweak func(*config.MQTT)) (*Source, *prometheus.Registry) {
	t.Helper()
	return sourceLogging(t, b, db, tweak, quiet)
}

func sourceLogging(t *testing.T, b *broker, db *fakeinflux.Server, tweak func(*config.MQTT), log *slog.Logger) (*Source, *prometheus.Registry) {
	t.Helper()
	r := runSource(t, b, db, tweak, log, filepath.Join(t.TempDir(), "mqtt-rejected.jsonl"))
	return r.s, r.reg
}

// running is a Source running until stop is called (or the test ends).
type running struct {
	s    *Source
	reg  *prometheus.Registry
	stop func() // ends the run and waits for it
}

func runSource(t *testing.T, b *broker, db *fakeinflux.Server, tweak func(*config.MQTT), log *slog.Logger, rejectedFile string) *running {
	t.Helper()
	cfg := config.Default().MQTT
	cfg.URL, cfg.Token, cfg.ClientID = "mqtt://"+b.l.Addr().String(), "token", "test"
	cfg.BatchWait = config.Duration(50 * time.Millisecond)
	if tweak != nil {
		tweak(&cfg)
	}
	sink, err := influx.New(config.InfluxDB{URL: db.URL, Bucket: "db/autogen", Timeout: config.Duration(5 * time.Second), BatchSize: 1000}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	var rules struct{ Rule []mapping.Rule }
	if _, err := toml.Decode(`rule = [{match = "speed"}]`, &rules); err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(mapping.DefaultConfig(), rules.Rule)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pipe := pipeline.Must(pipeline.New(m, []pipeline.Output{sink}, reg, quiet))
	s, err := New(cfg, pipe, rejectedFile, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.finishWithin = 3 * time.Second // a held batch does not keep each test's end waiting
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return &running{s, reg, stop}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return tb.CounterValue(t, reg, name)
}

// TestAcknowledgedOnceStored: no PUBACK leaves while InfluxDB refuses the
// batch; once it is stored, every message's does, in the order the
// messages came (4.6).
func TestAcknowledgedOnceStored(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Status: 503}, fakeinflux.Answer{Status: 503})
	_, reg := source(t, b, db, func(c *config.MQTT) { c.BatchSize = 5 })
	bc := b.accept()
	bc.publish(1, 5, false)
	if cp, err := bc.readWithin(700 * time.Millisecond); err == nil {
		t.Fatalf("%v while InfluxDB refuses the batch", cp)
	}
	ids := bc.pubacks(5)
	if fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Errorf("PUBACKs %v, want [1 2 3 4 5]", ids)
	}
	if n := len(db.Lines()); n != 5 {
		t.Errorf("%d points stored, want 5", n)
	}
	if got := counter(t, reg, "flespi_exporter_mqtt_batches_held_total"); got != 1 {
		t.Errorf("batches held %v, want 1", got)
	}
	// Counted once the write returns, which may be after the broker read it.
	deadline := time.Now().Add(2 * time.Second)
	for counter(t, reg, "flespi_exporter_mqtt_messages_acknowledged_total") != 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := counter(t, reg, "flespi_exporter_mqtt_messages_acknowledged_total"); got != 5 {
		t.Errorf("acknowledged %v, want 5", got)
	}
}

// TestReceiveMaximumHeldByTheClient: a broker that sends beyond the
// receive maximum while a batch is being stored (mosquitto 2.0 did) meets a
// reader that waits: the source holds at most the batch being stored and
// receive_maximum more, and every message is stored in the end.
func TestReceiveMaximumHeldByTheClient(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Delay: 1500 * time.Millisecond})
	_, reg := source(t, b, db, func(c *config.MQTT) { c.BatchSize, c.ReceiveMaximum = 10, 10 })
	bc := b.accept()
	go bc.publish(1, 100, false)
	time.Sleep(700 * time.Millisecond) // the first batch is being stored
	// The batch being stored, a full inbox, and the message waiting for
	// room: 21. Without the wait, all 100.
	if got := counter(t, reg, "flespi_exporter_mqtt_messages_received_total"); got > 21 {
		t.Errorf("%v messages taken in while a batch of 10 is stored, with a receive maximum of 10", got)
	}
	if ids := bc.pubacks(100); ids[0] != 1 || ids[99] != 100 {
		t.Errorf("PUBACKs from %d to %d", ids[0], ids[99])
	}
	if n := len(db.Lines()); n != 100 {
		t.Errorf("%d points, want 100", n)
	}
}

// TestNoAckAcrossConnections: a batch whose connection ended while it was
// stored is not acknowledged on the next connection (packet ids are per
// connection); the broker sends its messages again there, and those are
// acknowledged.
func TestNoAckAcrossConnections(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	db.Then(fakeinflux.Answer{Delay: 1500 * time.Millisecond})
	_, reg := source(t, b, db, func(c *config.MQTT) { c.BatchSize = 3 })
	first := b.accept()
	first.publish(1, 3, false)
	time.Sleep(300 * time.Millisecond) // the batch is being stored
	first.c.Close()
	second := b.accept()
	// The first connection's batch is stored meanwhile; its PUBACKs must
	// not come here. The broker sends the messages again, new ids.
	second.publish(101, 3, true)
	ids := second.pubacks(3)
	if fmt.Sprint(ids) != "[101 102 103]" {
		t.Errorf("PUBACKs on the second connection %v, want [101 102 103] only", ids)
	}
	if cp, err := second.readWithin(300 * time.Millisecond); err == nil && cp.Type == packets.PUBACK {
		t.Errorf("one more PUBACK: %v", cp)
	}
	if got := counter(t, reg, "flespi_exporter_mqtt_messages_redelivered_total"); got != 3 {
		t.Errorf("redelivered %v, want 3", got)
	}
}

// TestBrokerDisconnect: a DISCONNECT from the broker ends the connection
// and the source connects again, and says so; a broker that no longer has
// the session at the reconnection is a warning (messages may be lost).
func TestBrokerDisconnect(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	var logs tb.Buffer
	s, _ := sourceLogging(t, b, db, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	bc := b.accept()
	d := packets.NewControlPacket(packets.DISCONNECT)
	d.Content.(*packets.Disconnect).ReasonCode = 0x8B // server shutting down
	bc.write(d)
	again := b.accept()
	again.publish(1, 1, false)
	if ids := again.pubacks(1); ids[0] != 1 {
		t.Errorf("PUBACK %v", ids)
	}
	if !s.Connected() {
		t.Error("not connected after the reconnect")
	}
	for _, want := range []string{"reason code 0x8B", "no longer had this client id's session"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs.String())
		}
	}
	if strings.Count(logs.String(), "no longer had") != 1 {
		t.Errorf("the lost session is told once, at the reconnection:\n%s", logs.String())
	}
}

// TestConnectionLostWhileHeld: while InfluxDB is down the reader waits for
// room in the inbox and reads nothing; a connection lost meanwhile is
// still found (the keep-alive ping fails), shown, and connected again.
func TestConnectionLostWhileHeld(t *testing.T) {
	b, db := startBroker(t), fakeinflux.Start(t)
	for range 20 {
		db.Then(fakeinflux.Answer{Status: 503})
	}
	s, _ := source(t, b, db, func(c *config.MQTT) { c.BatchSize, c.ReceiveMaximum = 2, 2 })
	keepAlive := uint16(1)
	bc := b.acceptWith(&packets.Properties{ServerKeepAlive: &keepAlive})
	bc.publish(1, 10, false) // a batch held, a full inbox, a reader waiting
	time.Sleep(500 * time.Millisecond)
	bc.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected 10 s after the broker closed the connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.accept() // and it comes back
}
