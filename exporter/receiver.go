package exporter

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// retryAfter is the Retry-After of 503 answers, in seconds. flespi resends
// on its own schedule; the header is for other senders.
const retryAfter = "5"

// receiver answers the POSTs of flespi HTTP streams. Its promise: 200 means
// every point of the batch is stored in InfluxDB (or, refused for good, kept
// in the dead-letter file); any other answer means nothing was acknowledged
// and flespi sends the batch again.
type receiver struct {
	cfg      config.HTTP
	pipe     *pipeline.Pipeline
	influx   *influx.Sink // nil: no InfluxDB output
	m        *receiverMetrics
	log      *slog.Logger
	now      func() time.Time
	slots    chan struct{} // one per batch in flight
	allowed  []netip.Prefix
	tokens   [][]byte
	bodyPool sync.Pool // *bytes.Buffer
}

func newReceiver(cfg config.HTTP, pipe *pipeline.Pipeline, sink *influx.Sink, mt *receiverMetrics, log *slog.Logger, now func() time.Time) *receiver {
	rc := &receiver{
		cfg: cfg, pipe: pipe, influx: sink, m: mt, log: log, now: now,
		slots: make(chan struct{}, cfg.MaxInFlight),
	}
	for _, c := range cfg.AllowCIDRs {
		rc.allowed = append(rc.allowed, netip.MustParsePrefix(c).Masked()) // checked at load
	}
	for _, t := range cfg.Tokens {
		rc.tokens = append(rc.tokens, []byte(t))
	}
	rc.bodyPool.New = func() any { return new(bytes.Buffer) }
	return rc
}

// httpError is an answer other than 200.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func fail(code int, format string, args ...any) *httpError {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rc.now()
	rc.m.inFlight.Inc()
	defer rc.m.inFlight.Dec()
	code, body := http.StatusOK, ""
	summary, err := rc.handle(r)
	var he *httpError
	switch {
	case err == nil:
		body = summary
	case errors.As(err, &he):
		code, body = he.code, he.msg
	default:
		code, body = http.StatusInternalServerError, err.Error()
	}
	switch code {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="flespi-exporter"`)
	}
	if code != http.StatusOK {
		rc.log.Warn("batch not acknowledged", "path", r.URL.Path, "code", code, "reason", body, "remote", r.RemoteAddr)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body+"\n")
	rc.m.requests.WithLabelValues(r.URL.Path, strconv.Itoa(code)).Inc()
	rc.m.requestDuration.WithLabelValues(r.URL.Path).Observe(rc.now().Sub(start).Seconds())
}

// handle checks, reads, maps and stores one batch. It returns the text of
// the 200 answer, or an error whose httpError says the status.
func (rc *receiver) handle(r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		return "", fail(http.StatusMethodNotAllowed, "%s is not supported: flespi streams POST their batches", r.Method)
	}
	if err := rc.checkClient(r); err != nil {
		return "", err
	}
	select {
	case rc.slots <- struct{}{}:
		defer func() { <-rc.slots }()
	default:
		return "", fail(http.StatusServiceUnavailable, "%d batches are in flight already (http.max_in_flight); try again", cap(rc.slots))
	}
	buf := rc.bodyPool.Get().(*bytes.Buffer)
	defer rc.putBody(buf)
	if err := rc.readBody(r, buf); err != nil {
		return "", err
	}
	res, err := rc.pipe.Process(r.Context(), buf.Bytes(), rc.now())
	var invalid *pipeline.InvalidError
	var notStored *pipeline.NotStoredError
	switch {
	case errors.As(err, &invalid):
		return "", fail(http.StatusBadRequest, "%v; nothing of this batch was stored", err)
	case errors.As(err, &notStored):
		return "", fail(http.StatusServiceUnavailable, "%v; the batch was not acknowledged and will come again", err)
	case err != nil:
		return "", err
	}
	return res.String(), nil
}

// putBody returns a request buffer to the pool unless a huge batch made it
// too big to keep around.
func (rc *receiver) putBody(buf *bytes.Buffer) {
	if buf.Cap() <= 4<<20 {
		buf.Reset()
		rc.bodyPool.Put(buf)
	}
}

// checkClient applies the network allow-list and the bearer tokens.
func (rc *receiver) checkClient(r *http.Request) error {
	if len(rc.allowed) > 0 {
		addr, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !rc.allowedAddr(addr.Addr().Unmap()) {
			return fail(http.StatusForbidden, "client %s is not in http.allow_cidrs", r.RemoteAddr)
		}
	}
	if len(rc.tokens) == 0 {
		return nil
	}
	given := strings.TrimSpace(r.Header.Get(rc.cfg.AuthHeader))
	if t, ok := strings.CutPrefix(given, "Bearer "); ok {
		given = strings.TrimSpace(t)
	}
	// Compare with every token, so that the time taken says nothing of
	// which one came close.
	match := 0
	for _, t := range rc.tokens {
		match |= subtle.ConstantTimeCompare([]byte(given), t)
	}
	if match != 1 {
		return fail(http.StatusUnauthorized, "missing or wrong token: send the header %q with \"Bearer <token>\"", rc.cfg.AuthHeader)
	}
	return nil
}

func (rc *receiver) allowedAddr(a netip.Addr) bool {
	for _, p := range rc.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// readBody reads the whole body, decompressing gzip and deflate, within
// http.max_body_size before and after decompression.
func (rc *receiver) readBody(r *http.Request, buf *bytes.Buffer) error {
	limit := int64(rc.cfg.MaxBodySize)
	if r.ContentLength > limit {
		return fail(http.StatusRequestEntityTooLarge, "body of %d bytes is larger than http.max_body_size (%s)", r.ContentLength, rc.cfg.MaxBodySize)
	}
	var body io.Reader = http.MaxBytesReader(nil, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return rc.readError(err)
		}
		defer zr.Close()
		body = zr
	case "deflate":
		zr, err := newDeflateReader(body)
		if err != nil {
			return rc.readError(err)
		}
		defer zr.Close()
		body = zr
	default:
		return fail(http.StatusUnsupportedMediaType, "Content-Encoding %q is not supported; send gzip, deflate or none", enc)
	}
	// One byte over the limit tells a body that is too large once inflated.
	n, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	if err != nil {
		return rc.readError(err)
	}
	if n > limit {
		return fail(http.StatusRequestEntityTooLarge, "body is larger than http.max_body_size (%s) once decompressed", rc.cfg.MaxBodySize)
	}
	return nil
}

func (rc *receiver) readError(err error) error {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return fail(http.StatusRequestEntityTooLarge, "body is larger than http.max_body_size (%s)", rc.cfg.MaxBodySize)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fail(http.StatusRequestTimeout, "reading the body timed out (http.read_timeout)")
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, zlib.ErrHeader),
		errors.Is(err, zlib.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		return fail(http.StatusBadRequest, "the body is cut short or not validly compressed: %v", err)
	}
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) {
		return fail(http.StatusBadRequest, "the body is not validly compressed: %v", err)
	}
	return fail(http.StatusBadRequest, "reading the body: %v", err)
}

// newDeflateReader reads "deflate" as HTTP means it (zlib), and also raw
// deflate, which some clients send under that name.
func newDeflateReader(r io.Reader) (io.ReadCloser, error) {
	br := newPeekReader(r)
	head, err := br.peek(2)
	if err != nil {
		return nil, err
	}
	// A zlib header: CM = 8 and the check bits make the pair a multiple of 31.
	if head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

// peekReader is a reader that can look at its first bytes before they are read.
type peekReader struct {
	r    io.Reader
	head []byte
}

func newPeekReader(r io.Reader) *peekReader { return &peekReader{r: r} }

func (p *peekReader) peek(n int) ([]byte, error) {
	for len(p.head) < n {
		buf := make([]byte, n-len(p.head))
		k, err := p.r.Read(buf)
		p.head = append(p.head, buf[:k]...)
		if err != nil {
			return p.head, err
		}
	}
	return p.head, nil
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// ready reports whether the receiver can store batches now.
func (rc *receiver) ready(ctx context.Context) error {
	if rc.influx == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return rc.influx.Ping(ctx)
}
