// Package fakeinflux is an InfluxDB write API in the test process
// (httptest), for the unit tests: it keeps the lines written to it, and
// answers on demand what a real InfluxDB will not do when a test wants it
// to (429 with Retry-After, 413, a 5xx, a slow answer), and refuses lines
// as InfluxDB does on a field type conflict: the other lines of the
// request are stored, and the answer is 400.
package fakeinflux

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Answer is one scripted answer to a write request.
type Answer struct {
	Status int               // the status code; the request stores nothing. 0: stored as usual, after Delay
	Header map[string]string // headers of the answer (Retry-After)
	Body   string            // the answer's body
	Delay  time.Duration     // wait before answering (or until the client gives up)
}

// Server is the fake InfluxDB.
type Server struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	script   []Answer
	checks   []Answer                 // for writes of nothing (the exporter's Check)
	refuse   func(line string) string // "" keeps the line; else the error
	lines    []string
	requests []int // lines in each write request, answered or not
}

// Start runs a fake InfluxDB until the test ends.
func Start(t interface{ Cleanup(func()) }) *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Then queues answers for the next write requests, in order; after them
// the server stores lines again.
func (s *Server) Then(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, answers...)
}

// ThenCheck queues answers for the next writes of nothing (the exporter's
// check of its configuration, at start and on /-/ready); without one they
// are answered 204 and counted nowhere, as InfluxDB 1.8 answers them, so
// that Then's answers and Requests stay the batches'.
func (s *Server) ThenCheck(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, answers...)
}

// Refuse makes the server refuse every line for which f returns an error
// text, storing the others (InfluxDB's partial write).
func (s *Server) Refuse(f func(line string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = f
}

// Conflict makes the server hold field of measurement as type held (float,
// integer, boolean, string): a line that writes it with another type is
// refused with InfluxDB's message, and the others are stored.
func (s *Server) Conflict(measurement, field, held string) {
	s.Refuse(func(line string) string {
		sent := fieldType(line, measurement, field)
		if sent == "" || sent == held {
			return ""
		}
		return fmt.Sprintf("field type conflict: input field %q on measurement %q is type %s, already exists as type %s", field, measurement, sent, held)
	})
}

// fieldType is the type a line writes field of measurement with, "" when
// it does not. It reads simple lines: no escaped separators.
func fieldType(line, measurement, field string) string {
	key, rest, ok := strings.Cut(line, " ")
	if !ok || strings.SplitN(key, ",", 2)[0] != measurement {
		return ""
	}
	fields, _, _ := strings.Cut(rest, " ")
	for _, f := range strings.Split(fields, ",") {
		k, v, _ := strings.Cut(f, "=")
		if k != field {
			continue
		}
		switch {
		case strings.HasPrefix(v, `"`):
			return "string"
		case strings.HasSuffix(v, "i"):
			return "integer"
		case v == "true" || v == "false":
			return "boolean"
		}
		return "float"
	}
	return ""
}

// Lines returns the lines stored so far.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Requests returns the number of lines of each write request so far.
func (s *Server) Requests() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.requests...)
}

// check answers a write of nothing.
func (s *Server) check(w http.ResponseWriter) {
	s.mu.Lock()
	a := Answer{Status: http.StatusNoContent}
	if len(s.checks) > 0 {
		a, s.checks = s.checks[0], s.checks[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ping", "/health":
		w.WriteHeader(http.StatusNoContent)
		return
	case "/api/v2/write":
	default:
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if strings.TrimSpace(string(body)) == "" {
		s.check(w)
		return
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	s.mu.Lock()
	s.requests = append(s.requests, len(lines))
	var a *Answer
	if len(s.script) > 0 {
		a = &s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()
	if a != nil && a.Status == 0 { // a slow write that succeeds
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
		a = nil
	}
	if a != nil {
		s.answer(w, r, *a)
		return
	}
	s.store(w, lines)
}

// answer gives a scripted answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, a Answer) {
	select {
	case <-time.After(a.Delay):
	case <-r.Context().Done():
		return
	}
	for k, v := range a.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.Status)
	fmt.Fprintf(w, `{"code":"invalid","message":%q}`, a.Body)
}

// store keeps the lines the refuse function lets through and answers 204,
// or 400 naming the first refusal when there was one.
func (s *Server) store(w http.ResponseWriter, lines []string) {
	s.mu.Lock()
	var refused []string
	for _, l := range lines {
		if s.refuse != nil {
			if why := s.refuse(l); why != "" {
				refused = append(refused, why)
				continue
			}
		}
		s.lines = append(s.lines, l)
	}
	s.mu.Unlock()
	if len(refused) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"code":"invalid","message":%q}`, fmt.Sprintf("partial write: %s dropped=%d", refused[0], len(refused)))
}
