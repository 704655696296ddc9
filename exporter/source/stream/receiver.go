// Package stream is the HTTP stream source: it answers the POSTs of
// flespi HTTP streams, reads each body within its limits (size, bytes in
// flight, slots), and hands it to the pipeline. Its promise: 200 means
// every point of the batch is stored (or, refused for good, kept in the
// dead-letter file); any other answer means nothing was acknowledged and
// flespi sends the batch again.
package stream

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
)

// retryAfter is the Retry-After of 503 answers, in seconds. flespi resends
// on its own schedule; the header is for other senders.
const retryAfter = "5"

// Receiver answers the POSTs of flespi HTTP streams on the configured
// paths.
type Receiver struct {
	cfg      config.HTTP
	pipe     *pipeline.Pipeline
	m        *receiverMetrics
	log      *slog.Logger
	now      func() time.Time
	slots    chan struct{} // one per batch being mapped and stored
	budget   *byteBudget   // body bytes held by requests, read or being read
	allowed  []netip.Prefix
	tokens   [][]byte
	bodyPool sync.Pool // *bytes.Buffer
}

// New returns a Receiver for the [http] section cfg that stores through
// pipe. Its metrics are registered with reg.
func New(cfg config.HTTP, pipe *pipeline.Pipeline, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) *Receiver {
	rc := &Receiver{
		cfg: cfg, pipe: pipe, log: log, now: now,
		slots: make(chan struct{}, cfg.MaxInFlight), budget: &byteBudget{max: int64(cfg.MaxInFlightBytes)},
	}
	rc.m = newReceiverMetrics(reg, rc.budget)
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

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (rc *Receiver) handle(r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		return "", fail(http.StatusMethodNotAllowed, "%s is not supported: flespi streams POST their batches", r.Method)
	}
	if err := rc.checkClient(r); err != nil {
		return "", err
	}
	// The body is read before a slot is taken: a client that sends slowly
	// holds only the bytes it has sent (http.max_in_flight_bytes), never
	// a slot that batches ready to be stored wait for.
	buf := rc.bodyPool.Get().(*bytes.Buffer)
	defer rc.putBody(buf)
	held, err := rc.readBody(r, buf)
	defer rc.budget.give(held)
	if err != nil {
		return "", err
	}
	if err := rc.takeSlot(r.Context()); err != nil {
		return "", err
	}
	defer func() { <-rc.slots }()
	res, err := rc.pipe.Process(r.Context(), pipeline.SourceHTTP, buf.Bytes(), rc.now())
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

// slotWait bounds how long a batch whose body is read waits for a slot:
// its bytes count in the budget meanwhile, so it is not left waiting long.
const slotWait = 5 * time.Second

// takeSlot waits up to slotWait for one of http.max_in_flight slots.
func (rc *Receiver) takeSlot(ctx context.Context) error {
	select { // most often a slot is free: no timer for it
	case rc.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(slotWait)
	defer timer.Stop()
	select {
	case rc.slots <- struct{}{}:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	return fail(http.StatusServiceUnavailable, "%d batches are being stored already (http.max_in_flight); try again", cap(rc.slots))
}

// putBody returns a request buffer to the pool unless a huge batch made it
// too big to keep around.
func (rc *Receiver) putBody(buf *bytes.Buffer) {
	if buf.Cap() <= 4<<20 {
		buf.Reset()
		rc.bodyPool.Put(buf)
	}
}

// Guard lets a request through to h only from a client the stream paths
// would accept (allow-list and tokens); anything else, an error while
// checking included, is refused. It guards the operator's surfaces when
// they share the stream listener.
func (rc *Receiver) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rc.checkClient(r); err != nil {
			code := http.StatusForbidden
			var he *httpError
			if errors.As(err, &he) {
				code = he.code
			}
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="flespi-exporter"`)
			}
			http.Error(w, err.Error(), code)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkClient applies the network allow-list and the bearer tokens.
func (rc *Receiver) checkClient(r *http.Request) error {
	if len(rc.allowed) > 0 {
		addr, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !rc.allowedAddr(addr.Addr().Unmap()) {
			return fail(http.StatusForbidden, "client %s is not in http.allow_cidrs", r.RemoteAddr)
		}
	}
	if len(rc.tokens) == 0 {
		return nil
	}
	given, ok := bearerToken(r.Header.Get(rc.cfg.AuthHeader), rc.cfg.AuthHeader)
	if !ok {
		return fail(http.StatusUnauthorized, "missing or wrong token: send the header %q with \"Bearer <token>\"", rc.cfg.AuthHeader)
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

// bearerToken returns the token of an authorization header value. The
// scheme is matched without regard to case (RFC 7235: "bearer" is Bearer).
// In the standard Authorization header a token without the scheme is
// refused; a custom header (http.auth_header) may carry the bare token.
func bearerToken(value, header string) (string, bool) {
	value = strings.TrimSpace(value)
	if len(value) > len("Bearer ") && strings.EqualFold(value[:len("Bearer ")], "Bearer ") {
		return strings.TrimSpace(value[len("Bearer "):]), true
	}
	if strings.EqualFold(header, "Authorization") {
		return "", false
	}
	return value, true
}

func (rc *Receiver) allowedAddr(a netip.Addr) bool {
	for _, p := range rc.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
