package mqtt5

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/gorilla/websocket"
)

// TestWebSocket: over ws:// the client asks for MQTT's subprotocol, writes
// each packet in binary messages, and reads packets whatever the messages'
// bounds: one packet split over two messages, two packets in one.
func TestWebSocket(t *testing.T) {
	protocols := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protocols <- websocket.Subprotocols(r)
		up := websocket.Upgrader{Subprotocols: []string{"mqtt"}}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if cp, err := packets.ReadPacket(bytes.NewReader(msg)); err != nil || cp.Type != packets.CONNECT {
			return // not a CONNECT: the client waits for CONNACK in vain
		}
		var out bytes.Buffer
		_, _ = packets.NewControlPacket(packets.CONNACK).WriteTo(&out)
		for i, topic := range []string{"a", "b", "c"} {
			cp := packets.NewControlPacket(packets.PUBLISH)
			pub := cp.Content.(*packets.Publish)
			pub.Topic, pub.QoS, pub.PacketID, pub.Payload = topic, 1, uint16(i+1), []byte(`{"ident":"`+topic+`"}`)
			_, _ = cp.WriteTo(&out)
		}
		b := out.Bytes()
		// CONNACK and half of the first PUBLISH; the rest; nothing more.
		_ = ws.WriteMessage(websocket.BinaryMessage, b[:10])
		_ = ws.WriteMessage(websocket.BinaryMessage, b[10:])
		_, _, _ = ws.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, _, err := Connect(context.Background(), nc, options, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-protocols; len(got) != 1 || got[0] != "mqtt" {
		t.Errorf("subprotocols asked: %q", got)
	}
	var p Packet
	for i, topic := range []string{"a", "b", "c"} {
		if err := c.Next(&p); err != nil {
			t.Fatal(err)
		}
		if string(p.Topic) != topic || p.PacketID != uint16(i+1) || string(p.Payload) != `{"ident":"`+topic+`"}` {
			t.Errorf("message %d: %+v", i, p)
		}
	}
}

// TestDialDefaultPorts: a URL without a port gets its scheme's.
func TestDialDefaultPorts(t *testing.T) {
	for raw, want := range map[string]string{
		"mqtt://broker": "broker:1883", "tcp://broker:1884": "broker:1884", "mqtts://mqtt.flespi.io": "mqtt.flespi.io:8883",
		"ssl://[::1]": "[::1]:8883", "tls://broker:8884": "broker:8884",
	} {
		u, _ := url.Parse(raw)
		if got := address(u); got != want {
			t.Errorf("%s: %s, want %s", raw, got, want)
		}
	}
}

// TestWebSocketThroughProxy: MQTT over WebSocket goes through the HTTP
// proxy of the environment (HTTPS_PROXY for wss://), with CONNECT, as
// networks that let only HTTPS out require.
func TestWebSocketThroughProxy(t *testing.T) {
	broker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{Subprotocols: []string{"mqtt"}}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		var out bytes.Buffer
		_, _ = packets.NewControlPacket(packets.CONNACK).WriteTo(&out)
		_ = ws.WriteMessage(websocket.BinaryMessage, out.Bytes())
		_, _, _ = ws.ReadMessage()
	}))
	defer broker.Close()
	tunnels := make(chan string, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		tunnels <- r.Host
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		client, rw, _ := w.(http.Hijacker).Hijack()
		go func() { _, _ = io.Copy(up, rw); up.Close() }()
		_, _ = io.Copy(client, up)
		client.Close()
	}))
	defer proxy.Close()

	// The environment is read at each dial; loopback is never proxied by
	// it, so the test names the proxy for every host.
	proxyURL, _ := url.Parse(proxy.URL)
	defer func(old func(*http.Request) (*url.URL, error)) { proxyFor = old }(proxyFor)
	proxyFor = func(*http.Request) (*url.URL, error) { return proxyURL, nil }
	u, _ := url.Parse("ws" + strings.TrimPrefix(broker.URL, "http"))
	nc, err := Dial(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, _, err := Connect(context.Background(), nc, options, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := <-tunnels; got != u.Host {
		t.Errorf("the proxy tunnelled to %q, want the broker %q", got, u.Host)
	}
}

// TestProxyFromEnvironment: wss:// takes HTTPS_PROXY, ws:// HTTP_PROXY,
// and NO_PROXY's hosts go direct, read when dialling.
func TestProxyFromEnvironment(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	t.Setenv("HTTP_PROXY", "http://plain-proxy.example:8080")
	t.Setenv("NO_PROXY", "internal.example")
	for raw, want := range map[string]string{
		"https://mqtt.flespi.io/":   "http://proxy.example:3128",
		"http://mqtt.flespi.io/":    "http://plain-proxy.example:8080",
		"https://internal.example/": "",
	} {
		req, _ := http.NewRequest(http.MethodGet, raw, nil)
		got, err := proxyFor(req)
		if err != nil {
			t.Fatal(err)
		}
		if (got == nil && want != "") || (got != nil && got.String() != want) {
			t.Errorf("%s: proxy %v, want %q", raw, got, want)
		}
	}
}
