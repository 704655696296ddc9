// Package mqtt is the MQTT source: it takes device messages from flespi's
// MQTT broker (one JSON object per MQTT message), in batches, through the
// pipeline, and acknowledges each message (PUBACK) only once the batch
// holding it is stored. The session is persistent (clean start false, a
// session expiry, a stable client id), so what is not acknowledged stays
// with the broker across reconnects and restarts and comes again; points
// are idempotent, so it overwrites itself.
//
// The protocol is internal/mqtt5's: one goroutine per connection reads
// packets and copies each message into the inbox; the batch loop takes
// the inbox whole, stores it, and acknowledges it on the connection it came
// by.
package mqtt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/internal/mqtt5"
)

// Source is the MQTT source. It is started by Run.
type Source struct {
	cfg       config.MQTT
	pipe      *pipeline.Pipeline
	log       *slog.Logger
	n         *counts
	state     connState
	rejected  *rejectedFile // payloads that can never be stored
	tls       *tls.Config   // for mqtts:// and wss://
	in        *inbox
	connected atomic.Bool   // connected and subscribed
	finished  chan struct{} // closed when the batch loop has stored its last batch
	// finishWithin bounds the time to finish a batch at shutdown.
	finishWithin time.Duration
	// connectedOnce: a session was made in this run, so the broker should
	// have it at the next connection.
	connectedOnce bool
	now           func() time.Time
}

// New returns a Source for cfg that maps and stores through pipe. Payloads
// that are not messages are kept in rejectedFile (JSON lines).
func New(cfg config.MQTT, pipe *pipeline.Pipeline, rejectedFile string, reg prometheus.Registerer, log *slog.Logger) (*Source, error) {
	tc, err := tlsConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	rf, err := openRejected(rejectedFile)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, pipe: pipe, log: log, rejected: rf, tls: tc, now: time.Now, finishWithin: finishWithin}
	s.n = &counts{}
	registerMetrics(reg, s.n, &s.connected)
	s.in = newInbox(cfg.BatchSize, cfg.ReceiveMaximum, int(cfg.BatchBytes), s.n)
	return s, nil
}

// Connected reports whether the source is connected to the broker now.
func (s *Source) Connected() bool { return s.connected.Load() }

// Run connects, reconnecting with backoff, and stores batches until ctx
// ends; then it finishes the batch being stored (within finishWithin),
// acknowledges it and disconnects: what is not acknowledged by then stays
// with the broker for the next run.
func (s *Source) Run(ctx context.Context) error {
	defer s.rejected.close()
	s.finished = make(chan struct{})
	stored := s.finished
	go func() {
		defer close(stored)
		s.batches(ctx)
	}()
	u, _ := url.Parse(s.cfg.URL) // checked at load
	tooLarge := 0                // sessions in a row ended by a packet over max_packet_size
	for attempt := 0; ; {
		select {
		case <-ctx.Done():
			<-stored
			return nil
		case <-time.After(backoff(attempt)):
		}
		up, err := s.session(ctx, u, s.tls)
		if err != nil && ctx.Err() == nil {
			s.state.failed(s.now(), connectError(err))
		}
		if errors.Is(err, errNotSubscribed) {
			up = false // as a refused connection: backoff, not a reconnect a second later
		}
		if up {
			s.state.changed(s.now())
		}
		var pe *mqtt5.ProtocolError
		if up && errors.As(err, &pe) && pe.Code == 0x95 {
			tooLarge++
		} else {
			tooLarge = 0
		}
		switch {
		case ctx.Err() != nil:
		case tooLarge > 0:
			// The broker sends the same message again at once: waiting
			// longer each time, not a reconnect a second (12 a minute).
			attempt = tooLarge + 1
			s.log.Error("the broker sent a message larger than mqtt.max_packet_size allows (it ignores the maximum the exporter asked for); the message is not acknowledged and comes again: raise mqtt.max_packet_size, or remove the message from the broker's session",
				"err", err, "max_packet_size", int64(s.cfg.MaxPacketSize), "retry_in", backoff(attempt))
		case up:
			// A connection that was up: again after a second, so that
			// two exporters with one client id, which take the session
			// from each other, do not spin.
			attempt = 1
			s.log.Warn("the MQTT connection is down; reconnecting (unacknowledged messages come again)", "err", err)
		default:
			attempt++
			s.log.Error("cannot connect to the MQTT broker; retrying with backoff", "url", s.cfg.URL,
				"err", connectError(err), "retry_in", backoff(attempt))
		}
	}
}

// session is one connection: connect, subscribe, read until it ends. up
// says whether the broker accepted the connection.
func (s *Source) session(ctx context.Context, u *url.URL, tlsConfig *tls.Config) (up bool, err error) {
	nc, err := mqtt5.Dial(ctx, u, tlsConfig)
	if err != nil {
		return false, err
	}
	c, ack, err := mqtt5.Connect(ctx, nc, s.options(), 10*time.Second)
	if err != nil {
		nc.Close()
		return false, err
	}
	defer c.Close()
	s.in.reset(c)
	defer s.in.reset(nil) // what was not taken comes again on the next connection
	defer s.connected.Store(false)
	s.log.Info("connected to the MQTT broker", "url", s.cfg.URL, "client_id", s.cfg.ClientID,
		"session_present", ack.SessionPresent, "session_expiry", ack.SessionExpiry.String())
	if s.connectedOnce && !ack.SessionPresent {
		s.log.Warn("the broker no longer had this client id's session (expired, or the broker lost it): "+
			"messages sent while the exporter was disconnected may be lost", "client_id", s.cfg.ClientID)
	}
	s.connectedOnce = true
	if err := c.Subscribe(1, s.subscriptions()); err != nil {
		return true, err
	}
	// Ending the run: once the batch being stored is acknowledged, a
	// normal DISCONNECT, which keeps the session.
	stop := context.AfterFunc(ctx, func() {
		<-s.finished
		_ = c.Disconnect()
		c.Close()
	})
	defer stop()
	pinging := make(chan struct{})
	defer close(pinging)
	go s.keepAlive(c, pinging)
	return true, s.read(c)
}

// options are the CONNECT options: a persistent session with
// receive_maximum messages in flight.
func (s *Source) options() mqtt5.Options {
	return mqtt5.Options{
		ClientID:       s.cfg.ClientID,
		Username:       s.cfg.Token,
		Password:       []byte(s.cfg.Token), // flespi takes the token as username; as password too
		CleanStart:     false,
		SessionExpiry:  time.Duration(s.cfg.SessionExpiry),
		ReceiveMaximum: uint16(s.cfg.ReceiveMaximum),
		KeepAlive:      30 * time.Second,
		MaxPacketSize:  int(s.cfg.MaxPacketSize),
	}
}

// subscriptions are the topics, QoS 1, through the share group if any.
func (s *Source) subscriptions() []mqtt5.Subscription {
	var subs []mqtt5.Subscription
	for _, t := range s.subscriptionTopics() {
		subs = append(subs, mqtt5.Subscription{Topic: t, QoS: 1})
	}
	return subs
}

// subscriptionTopics are the topic filters, through the share group if any.
func (s *Source) subscriptionTopics() []string {
	var topics []string
	for _, t := range s.cfg.Topics {
		if s.cfg.ShareGroup != "" {
			t = "$share/" + s.cfg.ShareGroup + "/" + t
		}
		topics = append(topics, t)
	}
	return topics
}

// read reads the connection's packets until it ends: messages into the
// inbox, the subscription's answer into the state.
func (s *Source) read(c *mqtt5.Conn) error {
	var p mqtt5.Packet
	for {
		if err := c.Next(&p); err != nil {
			return err
		}
		switch p.Type {
		case mqtt5.TypePublish:
			s.in.add(c, &p)
		case mqtt5.TypePubrel:
			// A QoS 2 message this client stored and answered with
			// PUBREC: its exchange ends.
			if err := c.Complete(p.PacketID); err != nil {
				return err
			}
		case mqtt5.TypeSuback:
			if err := s.subscribed(p.Reasons); err != nil {
				return err
			}
			s.connected.Store(true)
			s.state.changed(s.now())
		case mqtt5.TypeDisconnect:
			return disconnected(&p)
		}
	}
}

// disconnected is the error of a DISCONNECT from the broker, with the
// server it names instead, if any.
func disconnected(p *mqtt5.Packet) error {
	err := "the broker disconnected: " + mqtt5.Reason(p.Reasons[0])
	if p.ReasonString != "" {
		err += ": " + p.ReasonString
	}
	if p.ServerReference != "" {
		err += "; it names another server to use: " + p.ServerReference + " (set mqtt.url to it if this lasts)"
	}
	return errors.New(err)
}

// errNotSubscribed: the broker refused every subscription.
var errNotSubscribed = errors.New("the broker refused every subscription: check the token's rights (ACL) and mqtt.topics")

// subscribed reads the broker's answer to SUBSCRIBE: the topics it
// refused, and those it granted at QoS 0 (their messages are never
// acknowledged, so a connection lost loses them), are errors in the log
// and on the status page; every one refused is errNotSubscribed, and the
// source is not ready.
func (s *Source) subscribed(reasons []byte) error {
	subs := s.subscriptions()
	var problems []string
	granted := 0
	for i, code := range reasons {
		if i >= len(subs) {
			break
		}
		switch {
		case code >= 0x80:
			problems = append(problems, fmt.Sprintf("%s refused: %s", subs[i].Topic, mqtt5.Reason(code)))
			s.log.Error("the broker refused a subscription (check the token's rights)", "topic", subs[i].Topic, "reason", mqtt5.Reason(code))
		case code == 0:
			granted++
			problems = append(problems, subs[i].Topic+" granted at QoS 0 only: its messages are not acknowledged, and lost if the connection drops")
			s.log.Error("the broker granted a subscription at QoS 0 only: its messages cannot be acknowledged once stored, and are lost if the connection drops",
				"topic", subs[i].Topic)
		default:
			granted++
		}
	}
	s.state.subscribed(problems)
	if granted == 0 {
		return errNotSubscribed
	}
	return nil
}

// keepAlive pings at the connection's keep-alive interval until done. A
// failed ping closes the connection and drops its messages from the inbox,
// which ends its reader even while it waits for room there (InfluxDB
// down): the source shows as disconnected, and reconnects.
func (s *Source) keepAlive(c *mqtt5.Conn, done <-chan struct{}) {
	if c.KeepAlive() <= 0 {
		return
	}
	t := time.NewTicker(c.KeepAlive())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if c.Ping() != nil {
				c.Close()
				s.in.drop(c)
				return
			}
		}
	}
}

// tlsConfig trusts ca_file when given, else the system's CAs. A ca_file
// that cannot be read or holds no certificate is an error: falling back
// to the system's CAs would trust what the operator did not mean to.
func tlsConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqtt.ca_file: %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// backoff waits longer after each failed attempt: 1 s, 2 s, 4 s ... 1 min
// (holdPolicy's waits), and not at all before the first.
func backoff(attempt int) time.Duration { return holdPolicy.Wait(attempt) }

// connectError says what a refused connection means.
func connectError(err error) string {
	var re *mqtt5.RefusedError
	if errors.As(err, &re) && re.BadCredentials() {
		return fmt.Sprintf("the broker refused the token (%s): check FLESPI_TOKEN", mqtt5.Reason(re.Code))
	}
	return err.Error()
}
