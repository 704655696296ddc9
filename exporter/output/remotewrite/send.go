package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/internal/retry"
)

// sender posts encoded requests to the receiver. It is ours rather than
// client_golang/exp's remote API, whose one deadline covers the retries
// and whose errors carry the status only in their text: a refusal must be
// told from a failure to narrow it down, and each request gets its own
// deadline.
type sender struct {
	client  *http.Client
	url     string
	v2      bool
	timeout time.Duration // one request
	auth    func(h http.Header)
	// Two tries more for a passing failure (5xx, 429, unreachable), within
	// the time a stream batch waits for its answer.
	policy retry.Policy
	sent   prometheus.Counter // requests
}

func newSender(cfg config.RemoteWrite) (*sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("remote_write.url: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/api/v1/write"
	}
	s := &sender{url: u.String(), v2: cfg.Protocol == "2.0", timeout: time.Duration(cfg.Timeout),
		policy: retry.Policy{First: 250 * time.Millisecond, Max: 2 * time.Second, Tries: 3}}
	s.client = &http.Client{Timeout: s.timeout, CheckRedirect: sameHostSameMethod(u.Host)}
	switch {
	case cfg.BearerToken != "":
		s.auth = func(h http.Header) { h.Set("Authorization", "Bearer "+cfg.BearerToken) }
	case cfg.Username != "":
		s.auth = func(h http.Header) {
			r := http.Request{Header: h}
			r.SetBasicAuth(cfg.Username, cfg.Password)
		}
	}
	return s, nil
}

// sameHostSameMethod follows a redirect only to the configured host and
// only where the POST stays a POST with its body (307, 308): the
// credentials go to the host they were configured for, and a 302 that
// turns the write into a GET is never taken for stored.
func sameHostSameMethod(host string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		switch {
		case req.URL.Host != host:
			return &settingError{fmt.Sprintf("the receiver redirects to another host (%s): the credentials are not sent there; set remote_write.url to the address it redirects to", req.URL.Redacted())}
		case req.Method != http.MethodPost:
			return &settingError{fmt.Sprintf("the receiver redirects (%s) in a way that turns the write into a %s; set remote_write.url to the address it redirects to", req.Response.Status, req.Method)}
		case len(via) >= 5:
			return &settingError{"the receiver redirects more than 5 times; set remote_write.url to the final address"}
		}
		return nil
	}
}

// A request's compressed body is reused by later requests once nothing
// reads it: net/http may read (and close) a body after the answer came,
// so each reader of it holds a reference, released when it is closed, and
// the buffer goes back to the pool when the last is. (A body net/http
// never closes is left to the garbage collector, never reused.)
type bodyBuf struct {
	b    []byte
	refs atomic.Int32
}

var bodies = sync.Pool{New: func() any { return new(bodyBuf) }}

func (bb *bodyBuf) release() {
	if bb.refs.Add(-1) == 0 {
		bodies.Put(bb)
	}
}

// reader is a reader of the body, holding a reference until closed.
func (bb *bodyBuf) reader() io.ReadCloser {
	bb.refs.Add(1)
	return &bodyReader{Reader: bytes.NewReader(bb.b), bb: bb}
}

type bodyReader struct {
	*bytes.Reader
	bb   *bodyBuf
	once sync.Once
}

func (r *bodyReader) Close() error {
	r.once.Do(r.bb.release)
	return nil
}

// refusal is a request the receiver refused for what it holds (out of
// order, too old, invalid): sent again as it is, it is refused again.
type refusal struct {
	status string
	body   string
}

func (r *refusal) Error() string { return "refused: " + r.status + ": " + r.body }

// settingError is an answer that a change of the configuration cures
// (401, 403, 404, a redirect elsewhere): the batch waits for it.
type settingError struct{ msg string }

func (e *settingError) Error() string { return e.msg }

// Setting is what to change (pipeline.Setting).
func (e *settingError) Setting() string { return e.msg }

// permanentBodies are the 5xx answers of Prometheus' receiver for samples
// it can never take (it answers 500 for "too old sample", out of its
// out-of-order window): every other 5xx is passing, as a full disk is.
var permanentBodies = []string{"too old sample", "out of bounds", "out of order sample", "duplicate sample"}

// post sends one encoded request (uncompressed protobuf), trying a
// passing failure again; the error is a *refusal, a *settingError, or a
// passing failure after the tries.
func (s *sender) post(ctx context.Context, raw []byte, samples int) error {
	body := bodies.Get().(*bodyBuf)
	body.refs.Store(1)
	defer body.release()
	if n := s2.MaxEncodedLen(len(raw)); cap(body.b) < n {
		body.b = make([]byte, n)
	}
	body.b = s2.EncodeSnappy(body.b[:cap(body.b)], raw)
	return s.policy.Do(ctx, func() error { return s.once(ctx, body, samples) }, func(err error) bool {
		var r *refusal
		var se *settingError
		return !errors.As(err, &r) && !errors.As(err, &se)
	}, nil)
}

func (s *sender) once(ctx context.Context, body *bodyBuf, samples int) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, nil)
	if err != nil {
		return &settingError{fmt.Sprintf("remote_write.url: %v", err)}
	}
	req.Body, req.ContentLength = body.reader(), int64(len(body.b))
	req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil } // a 307 sends it again
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", "flespi-exporter")
	if s.v2 {
		req.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	if s.auth != nil {
		s.auth(req.Header)
	}
	if s.sent != nil {
		s.sent.Inc()
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var se *settingError
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return s.judge(resp, strings.TrimSpace(string(answer)), samples)
}

// judge reads the receiver's answer to a request of samples.
func (s *sender) judge(resp *http.Response, answer string, samples int) error {
	code := resp.StatusCode
	switch {
	case code/100 == 2:
		if s.v2 && resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written") == "" && samples > 0 {
			// A receiver of 1.0 only that ignores the Content-Type: it
			// took nothing it could read.
			return &settingError{"the receiver answered a remote write 2.0 request without the written counts: it speaks 1.0 only; set remote_write.protocol = \"1.0\""}
		}
		return nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &settingError{fmt.Sprintf("the receiver refuses the credentials (%s: %s): check remote_write.bearer_token or username and password", resp.Status, answer)}
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		return &settingError{fmt.Sprintf("no remote write receiver at remote_write.url (%s: %s); Prometheus takes remote write with --web.enable-remote-write-receiver", resp.Status, answer)}
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || (code/100 == 5 && !permanentBody(answer)):
		return fmt.Errorf("the receiver failed: %s: %s", resp.Status, answer)
	case code/100 == 4 || code/100 == 5:
		return &refusal{status: resp.Status, body: answer}
	}
	return fmt.Errorf("unexpected answer from the receiver: %s: %s", resp.Status, answer)
}

func permanentBody(answer string) bool {
	for _, b := range permanentBodies {
		if strings.Contains(answer, b) {
			return true
		}
	}
	return false
}
