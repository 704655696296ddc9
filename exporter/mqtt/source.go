// Package mqtt is the MQTT source: it takes device messages from flespi's
// MQTT broker (one JSON object per MQTT message), in batches, through the
// pipeline, and acknowledges each message (PUBACK) only once the batch
// holding it is stored. The session is persistent (clean start false, a
// session expiry, a stable client id), so what is not acknowledged stays
// with the broker across reconnects and restarts and comes again; points
// are idempotent, so it overwrites itself.
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

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// Source is the MQTT source. It is started by Run.
type Source struct {
	cfg       config.MQTT
	pipe      *pipeline.Pipeline
	log       *slog.Logger
	m         *metrics
	rejected  *rejectedFile // payloads that can never be stored
	received  chan paho.PublishReceived
	connected atomic.Bool
	now       func() time.Time
	body      []byte // a batch's payloads as one JSON array; reused
}

// New returns a Source for cfg that maps and stores through pipe. Payloads
// that are not messages are kept in rejectedFile (JSON lines).
func New(cfg config.MQTT, pipe *pipeline.Pipeline, rejectedFile string, reg prometheus.Registerer, log *slog.Logger) (*Source, error) {
	rf, err := openRejected(rejectedFile)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, pipe: pipe, log: log, rejected: rf, now: time.Now,
		// The broker sends at most receive_maximum messages before they
		// are acknowledged, so this never blocks the client for long.
		received: make(chan paho.PublishReceived, cfg.ReceiveMaximum)}
	s.m = newMetrics(reg, &s.connected)
	return s, nil
}

// Connected reports whether the source is connected to the broker now.
func (s *Source) Connected() bool { return s.connected.Load() }

// Run connects and stores batches until ctx ends, then disconnects: what
// is not acknowledged by then stays with the broker for the next run.
func (s *Source) Run(ctx context.Context) error {
	defer s.rejected.close()
	cm, err := autopaho.NewConnection(ctx, s.clientConfig())
	if err != nil {
		return err
	}
	s.batches(ctx)
	disconnect, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cm.Disconnect(disconnect)
	return nil
}

// clientConfig is the paho configuration: a persistent session with
// manual acknowledgement, receive_maximum messages in flight, and a
// backoff between connection attempts.
func (s *Source) clientConfig() autopaho.ClientConfig {
	u, _ := url.Parse(s.cfg.URL) // checked at load
	rm := uint16(s.cfg.ReceiveMaximum)
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(time.Duration(s.cfg.SessionExpiry) / time.Second),
		ReconnectBackoff:              backoff,
		ConnectTimeout:                10 * time.Second,
		ConnectUsername:               s.cfg.Token,
		ConnectPassword:               []byte(s.cfg.Token), // flespi takes the token as username; as password too
		ConnectPacketBuilder: func(c *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if c.Properties == nil {
				c.Properties = &paho.ConnectProperties{}
			}
			c.Properties.ReceiveMaximum = &rm
			return c, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
			s.connected.Store(true)
			s.log.Info("connected to the MQTT broker", "url", s.cfg.URL, "client_id", s.cfg.ClientID,
				"session_present", ack.SessionPresent, "session_expiry", sessionExpiry(ack, s.cfg.SessionExpiry))
			go s.subscribe(cm)
		},
		OnConnectionDown: func() bool {
			s.connected.Store(false)
			s.log.Warn("the MQTT connection is down; reconnecting (unacknowledged messages come again)")
			return true
		},
		OnConnectError: func(err error) {
			s.log.Error("cannot connect to the MQTT broker; retrying with backoff", "url", s.cfg.URL, "err", connectError(err))
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.cfg.ClientID,
			EnableManualAcknowledgment: true,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					s.received <- pr
					return true, nil
				},
			},
		},
	}
	if u.Scheme != "mqtt" && u.Scheme != "tcp" && u.Scheme != "ws" {
		cc.TlsCfg = s.tlsConfig()
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		cc.AttemptConnection = dial
	}
	return cc
}

// subscribe subscribes the topics, QoS 1, through the share group if any.
func (s *Source) subscribe(cm *autopaho.ConnectionManager) {
	sub := &paho.Subscribe{}
	for _, t := range s.cfg.Topics {
		if s.cfg.ShareGroup != "" {
			t = "$share/" + s.cfg.ShareGroup + "/" + t
		}
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := cm.Subscribe(ctx, sub)
	if err != nil {
		s.log.Error("subscribing failed", "topics", s.cfg.Topics, "err", err)
		return
	}
	for i, code := range ack.Reasons {
		if code >= 0x80 {
			s.log.Error("the broker refused a subscription (check the token's rights)", "topic", sub.Subscriptions[i].Topic, "reason_code", code)
		}
	}
}

// tlsConfig trusts ca_file when given, else the system's CAs.
func (s *Source) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.CAFile == "" {
		return cfg
	}
	pem, err := os.ReadFile(s.cfg.CAFile)
	if err != nil {
		s.log.Error("reading mqtt.ca_file", "err", err)
		return cfg
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.log.Error("mqtt.ca_file holds no PEM certificate", "file", s.cfg.CAFile)
	}
	cfg.RootCAs = pool
	return cfg
}

// backoff waits longer after each failed attempt: 1 s, 2 s, 4 s ... 1 min.
func backoff(attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	return min(time.Second<<min(attempt-1, 6), time.Minute)
}

// sessionExpiry is the session expiry the broker granted, which MQTT 5
// lets it shorten.
func sessionExpiry(ack *paho.Connack, asked config.Duration) string {
	if ack.Properties != nil && ack.Properties.SessionExpiryInterval != nil {
		return (time.Duration(*ack.Properties.SessionExpiryInterval) * time.Second).String()
	}
	return time.Duration(asked).String()
}

// connectError says what a refused connection means.
func connectError(err error) string {
	var ce *autopaho.ConnackError
	if errors.As(err, &ce) {
		switch ce.ReasonCode {
		case 0x86, 0x87, 0x04, 0x05:
			return fmt.Sprintf("the broker refused the token (reason %d): check FLESPI_TOKEN", ce.ReasonCode)
		}
	}
	return err.Error()
}
