package stream

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// readBody reads the whole body, decompressing gzip and deflate, within
// http.max_body_size before and after decompression, and takes what it
// holds from the budget of bytes in flight as it arrives. It returns the
// bytes taken, which the caller gives back when it is done with buf.
func (rc *Receiver) readBody(r *http.Request, buf *bytes.Buffer) (held int64, err error) {
	limit := int64(rc.cfg.MaxBodySize)
	if r.ContentLength > limit {
		return 0, fail(http.StatusRequestEntityTooLarge, "body of %d bytes is larger than http.max_body_size (%s)", r.ContentLength, rc.cfg.MaxBodySize)
	}
	var body io.Reader = http.MaxBytesReader(nil, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return 0, rc.readError(err)
		}
		defer zr.Close()
		body = zr
	case "deflate":
		zr, err := newDeflateReader(body)
		if err != nil {
			return 0, rc.readError(err)
		}
		defer zr.Close()
		body = zr
	default:
		return 0, fail(http.StatusUnsupportedMediaType, "Content-Encoding %q is not supported; send gzip, deflate or none", enc)
	}
	// One byte over the limit tells a body that is too large once inflated.
	counted := &budgetReader{r: io.LimitReader(body, limit+1), b: rc.budget}
	if enc := r.Header.Get("Content-Encoding"); (enc == "" || enc == "identity") && r.ContentLength > 0 {
		// One allocation, not a doubling series; but the memory is taken
		// from the budget first: a client that declares 30 MB and sends a
		// byte every few seconds holds the 30 MB it made us allocate
		// (100 of them took 2.96 GB while the budget counted bytes as
		// they came).
		if !rc.budget.take(r.ContentLength) {
			return 0, rc.readError(errBudget)
		}
		counted.prepaid = r.ContentLength
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(counted)
	if err != nil {
		return counted.taken(), rc.readError(err)
	}
	if n > limit {
		return counted.taken(), fail(http.StatusRequestEntityTooLarge, "body is larger than http.max_body_size (%s) once decompressed", rc.cfg.MaxBodySize)
	}
	return counted.taken(), nil
}

func (rc *Receiver) readError(err error) error {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.Is(err, errBudget):
		return fail(http.StatusServiceUnavailable, "%s of batches are in flight already (http.max_in_flight_bytes); try again", rc.cfg.MaxInFlightBytes)
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

// byteBudget bounds the body bytes that requests hold at once.
type byteBudget struct {
	mu        sync.Mutex
	used, max int64
}

// take takes n bytes, or reports that they would exceed the budget.
func (b *byteBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// give gives n bytes back.
func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

// inUse is the bytes taken now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// errBudget stops a body that would exceed http.max_in_flight_bytes.
var errBudget = errors.New("the budget of bytes in flight is spent")

// budgetReader takes from a budget every byte it reads beyond what was
// taken for it beforehand (prepaid: the declared length it allocated), in
// reads of at most 256 KiB, so that what a request holds is counted before
// it is held.
type budgetReader struct {
	r       io.Reader
	b       *byteBudget
	prepaid int64 // taken before the first read
	read    int64
	held    int64 // taken as bytes came, beyond prepaid
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if len(p) > 256<<10 {
		p = p[:256<<10]
	}
	n, err := br.r.Read(p)
	if n > 0 {
		if need := br.read + int64(n) - max(br.prepaid, br.read); need > 0 {
			if !br.b.take(need) {
				return 0, errBudget
			}
			br.held += need
		}
		br.read += int64(n)
	}
	return n, err
}

// taken is what the reader took from the budget in all.
func (br *budgetReader) taken() int64 { return br.prepaid + br.held }
