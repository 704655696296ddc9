package workload

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Stream posts batches the way a flespi HTTP stream does: one request in
// flight, and the same batch again after any answer but 200 (or none).
type Stream struct {
	URL    string
	Header http.Header // sent with every request, e.g. Authorization
	Client *http.Client

	mu       sync.Mutex
	failures map[int]int // answers other than 200 by status; 0 is no answer
}

// NewStream returns a Stream posting to url.
func NewStream(url string) *Stream {
	return &Stream{URL: url, Client: &http.Client{Timeout: 60 * time.Second}, failures: map[int]int{}}
}

// Deliver posts batch until it is acknowledged, for at most two minutes.
func (s *Stream) Deliver(batch []byte) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, err := s.post(batch)
		if code == http.StatusOK {
			return nil
		}
		s.mu.Lock()
		s.failures[code]++
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("batch not acknowledged for two minutes; last answer %d %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Stream) post(batch []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(batch))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range s.Header {
		req.Header[k] = v
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Failures returns how many answers of each status other than 200 the
// stream got (0: no answer at all).
func (s *Stream) Failures() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.failures))
	for k, v := range s.failures {
		out[k] = v
	}
	return out
}

// Replay delivers batches over n streams at once, batch i on stream i mod n,
// each stream one request at a time, and returns the first error.
func Replay(url string, batches [][]byte, n int) error {
	errs := make(chan error, n)
	for k := range n {
		go func() {
			s := NewStream(url)
			for i := k; i < len(batches); i += n {
				if err := s.Deliver(batches[i]); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
