package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
)

// dial connects to a tcp or tls broker URL with a connection that reads
// through a buffer and coalesces writes: paho reads a packet a few bytes
// at a time and writes each PUBACK on its own, a system call each, which
// made the MQTT path cost four times the HTTP path's CPU per message.
func dial(ctx context.Context, cfg autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	switch u.Scheme {
	case "mqtt", "tcp", "":
		c, err = d.DialContext(ctx, "tcp", u.Host)
	default:
		td := &tls.Dialer{NetDialer: d, Config: cfg.TlsCfg}
		c, err = td.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return nil, err
	}
	return packets.NewThreadSafeConn(newBufferedConn(c)), nil
}

// flushAfter is how long a write waits for others to share its system
// call: the acknowledgements of a batch leave together.
const flushAfter = time.Millisecond

// bufferedConn reads through a buffer, and holds writes for flushAfter (or
// until 32 KB) so that the PUBACKs of a batch leave in one write. A write
// that fails is reported by the next one: the connection is closed and
// paho reconnects; PUBACKs lost that way only make the broker send their
// messages again.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	w       *bufio.Writer
	pending bool  // a flush is scheduled
	err     error // of the last flush
}

func newBufferedConn(c net.Conn) *bufferedConn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 32<<10)}
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p) // writes through when the buffer fills
	if err != nil {
		return n, err
	}
	if !c.pending {
		c.pending = true
		time.AfterFunc(flushAfter, c.flush)
	}
	return n, nil
}

func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = false
	if err := c.w.Flush(); err != nil && c.err == nil {
		c.err = err
		c.Conn.Close()
	}
}

// Close sends what is held, then closes.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	_ = c.w.Flush()
	c.mu.Unlock()
	return c.Conn.Close()
}
