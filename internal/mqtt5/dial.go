package mqtt5

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http/httpproxy"
)

// Dial opens a network connection to a broker URL: mqtt:// or tcp://
// (plain, port 1883 unless given), mqtts://, ssl:// or tls:// (TLS, 8883),
// ws:// (WebSocket, 80) or wss:// (WebSocket over TLS, 443). tlsConfig
// applies to the TLS forms.
func Dial(ctx context.Context, u *url.URL, tlsConfig *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	switch u.Scheme {
	case "mqtt", "tcp":
		return d.DialContext(ctx, "tcp", address(u))
	case "mqtts", "ssl", "tls":
		td := &tls.Dialer{NetDialer: d, Config: tlsConfig}
		return td.DialContext(ctx, "tcp", address(u))
	case "ws", "wss":
		return dialWebSocket(ctx, u, d, tlsConfig)
	}
	return nil, fmt.Errorf("mqtt5: unknown URL scheme %q", u.Scheme)
}

// address is the URL's host and port, the scheme's port if it has none.
func address(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "1883"
	if u.Scheme != "mqtt" && u.Scheme != "tcp" {
		port = "8883"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// proxyFor is the HTTP proxy a WebSocket connection goes through:
// HTTPS_PROXY for wss://, HTTP_PROXY for ws://, none for the hosts in
// NO_PROXY (and loopback), as curl and Go's HTTP client do. WebSocket is
// what networks that let only HTTPS out are offered, and those often let
// it out only through a proxy. Read at each dial, not once per process
// (http.ProxyFromEnvironment's), so a changed environment counts.
var proxyFor = func(req *http.Request) (*url.URL, error) {
	return httpproxy.FromEnvironment().ProxyFunc()(req.URL)
}

// dialWebSocket connects with MQTT's WebSocket subprotocol (6.0): every
// MQTT packet travels in binary messages.
func dialWebSocket(ctx context.Context, u *url.URL, d *net.Dialer, tlsConfig *tls.Config) (net.Conn, error) {
	wd := websocket.Dialer{
		NetDialContext:   d.DialContext,
		Proxy:            proxyFor,
		TLSClientConfig:  tlsConfig,
		Subprotocols:     []string{"mqtt"},
		HandshakeTimeout: 10 * time.Second,
	}
	ws, resp, err := wd.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &wsConn{Conn: ws}, nil
}

// wsConn is a WebSocket connection as a byte stream: MQTT packets may
// span WebSocket messages and a message may hold several packets.
type wsConn struct {
	*websocket.Conn
	r io.Reader // the message being read
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
