// Package testmqtt runs a real MQTT broker for tests: Debian's mosquitto
// on free loopback ports, in a temporary directory, with persistence, a
// password file whose user is a flespi-like token, and a TLS listener with
// a certificate of its own; or Debian's ejabberd (StartEjabberd), a second
// implementation that keeps one message in flight.
// scripts/install-test-deps.sh installs both.
package testmqtt

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// Broker is a running mosquitto or ejabberd.
type Broker struct {
	URL    string // mqtt://127.0.0.1:port
	TLSURL string // mqtts://127.0.0.1:port
	WSURL  string // ws://127.0.0.1:port (MQTT over WebSocket)
	CAFile string // the TLS listener's certificate, self-signed: the CA to trust
	Token  string // the user (and password) the broker accepts
	t      tb.T
	dir    string
	conf   string
	cmd    *exec.Cmd
	ej     *ejabberd // nil: mosquitto
}

// Binary finds mosquitto; a test that needs it fails, never skips, without it.
func Binary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto not found: run scripts/install-test-deps.sh (it installs Debian's mosquitto)")
}

// Start runs a broker that accepts token; it is stopped when the test ends.
func Start(t tb.T, token string) *Broker {
	t.Helper()
	bin, dir := tb.Tool(t, Binary)
	b := &Broker{t: t, dir: dir, conf: filepath.Join(dir, "mosquitto.conf"), Token: token}
	addr, tlsAddr, wsAddr := tb.FreeAddr(t), tb.FreeAddr(t), tb.FreeAddr(t)
	b.URL, b.TLSURL, b.WSURL = "mqtt://"+addr, "mqtts://"+tlsAddr, "ws://"+wsAddr
	b.CAFile, _, _ = tb.SelfSigned(t, dir)
	passwd := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", passwd, token, token).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	host, port, _ := net.SplitHostPort(addr)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	_, wsPort, _ := net.SplitHostPort(wsAddr)
	conf := fmt.Sprintf(`per_listener_settings false
user root
allow_anonymous false
password_file %[1]s/passwd
persistence true
persistence_location %[1]s/
autosave_interval 1
max_queued_messages 1000000
max_inflight_messages 0
log_dest file %[1]s/mosquitto.log
listener %[2]s %[3]s
listener %[4]s %[3]s
cafile %[1]s/cert.pem
certfile %[1]s/cert.pem
keyfile %[1]s/key.pem
listener %[5]s %[3]s
protocol websockets
`, dir, port, host, tlsPort, wsPort)
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start(bin)
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start(bin string) {
	b.t.Helper()
	b.cmd = exec.Command(bin, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	u, _ := url.Parse(b.URL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", u.Host); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
			b.t.Fatalf("mosquitto did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the broker (its sessions and queued messages are saved).
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	if b.ej != nil {
		// The script's process group: the Erlang VM under it too.
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
	} else {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
	}
	_ = b.cmd.Wait()
	b.cmd = nil
}

// Publish sends each payload to topic with QoS 1 and waits for the broker
// to acknowledge it.
func (b *Broker) Publish(topic string, payloads ...[]byte) {
	b.t.Helper()
	b.PublishQoS(topic, 1, payloads...)
}

// PublishQoS is Publish with another QoS.
func (b *Broker) PublishQoS(topic string, qos byte, payloads ...[]byte) {
	b.t.Helper()
	cm := b.client("test-publisher")
	defer cm.Disconnect(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, p := range payloads {
		if _, err := cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: p}); err != nil {
			b.t.Fatalf("publish: %v", err)
		}
	}
}

// SubscribeSession leaves a persistent session of clientID subscribed to
// topic at qos, as an earlier client with that id would: the broker keeps
// what is published there for the session's next connection.
func (b *Broker) SubscribeSession(clientID, topic string, qos byte) {
	b.t.Helper()
	cm := b.connect(clientID, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}}); err != nil {
		b.t.Fatalf("subscribe: %v", err)
	}
	_ = cm.Disconnect(ctx)
}

// Peek connects as clientID, resuming its persistent session, and counts
// the messages the broker delivers within wait without acknowledging any:
// a second look at what the broker keeps for the session, which it sends
// again at the session's next connection.
func (b *Broker) Peek(clientID string, wait time.Duration) int {
	b.t.Helper()
	var n atomic.Int64
	cm := b.connect(clientID, func(cfg *autopaho.ClientConfig) {
		cfg.EnableManualAcknowledgment = true // and never acknowledged
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
			n.Add(1)
			return true, nil
		}}
	})
	time.Sleep(wait)
	_ = cm.Disconnect(context.Background())
	return int(n.Load())
}

// EndSession ends clientID's persistent session: the broker forgets it
// and stops keeping messages for it (a session left behind would take a
// copy of everything published after, forever).
func (b *Broker) EndSession(clientID string) {
	b.t.Helper()
	cm := b.connect(clientID, func(cfg *autopaho.ClientConfig) {
		cfg.CleanStartOnInitialConnection, cfg.SessionExpiryInterval = true, 0
	})
	_ = cm.Disconnect(context.Background())
}

// client connects to the plain listener and waits for the connection.
func (b *Broker) client(id string) *autopaho.ConnectionManager { return b.connect(id, nil) }

// connect connects as id with a persistent session of an hour, tweaked by
// tweak, and waits for the connection.
func (b *Broker) connect(id string, tweak func(*autopaho.ClientConfig)) *autopaho.ConnectionManager {
	b.t.Helper()
	u, _ := url.Parse(b.URL)
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, ConnectUsername: b.Token, ConnectPassword: []byte(b.Token),
		SessionExpiryInterval: 3600,
		ClientConfig:          paho.ClientConfig{ClientID: id},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cm.AwaitConnection(ctx); err != nil {
		b.t.Fatalf("connecting to the broker: %v", err)
	}
	return cm
}
