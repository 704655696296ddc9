// Package fakeflespi is flespi's REST API for stored device messages, as
// ../shared/flespi/REST.md describes it, for tests of a backfill: GET
// /gw/devices/{selector}/messages?data={"from","to","count"} answers the
// messages of the selected devices with from <= timestamp <= to, sorted by
// time, the first count of them, as {"result": [...]}; a token other than
// its own is refused (401); answers can be scripted (429 with or without
// Retry-After, a 5xx, errors beside a result).
package fakeflespi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is a stored message: its device and its JSON.
type Message struct {
	DeviceID  int
	Ident     string
	Timestamp float64
	JSON      []byte
}

// Answer scripts the answer to one request instead of the messages;
// Status 0 answers the messages, after Delay.
type Answer struct {
	Status     int
	RetryAfter string // the Retry-After header, if any
	Body       string
	Delay      time.Duration
}

// Server is the fake flespi.
type Server struct {
	URL   string
	Token string

	// MaxCount caps a page as a server may: a request asking for more
	// gets at most this many (0: what it asks).
	MaxCount int

	mu       sync.Mutex
	msgs     []Message
	queries  []Query
	script   []Answer
	requests int
	apps     map[string]int // x-flespi-app values seen
}

// Start runs a fake flespi that accepts token, until the test ends.
func Start(t interface{ Cleanup(func()) }, token string) *Server {
	s := &Server{Token: token, apps: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = srv.URL
	t.Cleanup(srv.Close)
	return s
}

// Add stores a message of device id (ident) at timestamp with params
// beside ident, timestamp and device.id.
func (s *Server) Add(id int, ident string, timestamp float64, params map[string]any) {
	m := map[string]any{"ident": ident, "timestamp": json.Number(strconv.FormatFloat(timestamp, 'f', -1, 64)), "device.id": id}
	for k, v := range params {
		m[k] = v
	}
	raw, _ := json.Marshal(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, Message{DeviceID: id, Ident: ident, Timestamp: timestamp, JSON: raw})
}

// Query is what a request of messages asked for.
type Query struct {
	Selector string
	From, To float64
	Count    int
}

// Queries returns the requests of messages so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Then queues answers for the next requests, in order.
func (s *Server) Then(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, answers...)
}

// Requests is how many requests came; Apps how many carried each
// x-flespi-app.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Apps returns the x-flespi-app values seen, with their counts.
func (s *Server) Apps() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.apps {
		out[k] = v
	}
	return out
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.apps[r.Header.Get("x-flespi-app")]++
	var a *Answer
	if len(s.script) > 0 {
		a = &s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "FlespiToken "+s.Token {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":401,"reason":"unauthorized"}]}`)
		return
	}
	if a != nil && a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if a != nil && a.Status != 0 {
		if a.RetryAfter != "" {
			w.Header().Set("Retry-After", a.RetryAfter)
		}
		w.WriteHeader(a.Status)
		fmt.Fprint(w, a.Body)
		return
	}
	sel, ok := strings.CutPrefix(r.URL.Path, "/gw/devices/")
	sel, ok2 := strings.CutSuffix(sel, "/messages")
	if !ok || !ok2 {
		http.Error(w, `{"errors":[{"code":404,"reason":"not found"}]}`, http.StatusNotFound)
		return
	}
	sel, _ = url.PathUnescape(sel)
	var q struct {
		From  float64 `json:"from"`
		To    float64 `json:"to"`
		Count int     `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.URL.Query().Get("data")), &q); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"errors":[{"code":400,"reason":%q}]}`, err.Error())
		return
	}
	if q.To == 0 {
		q.To = 1e12
	}
	s.mu.Lock()
	s.queries = append(s.queries, Query{Selector: sel, From: q.From, To: q.To, Count: q.Count})
	if s.MaxCount > 0 && (q.Count == 0 || q.Count > s.MaxCount) {
		q.Count = s.MaxCount
	}
	s.mu.Unlock()
	writeResult(w, s.selected(sel, q.From, q.To, q.Count))
}

// selected is the messages of the selector in [from, to], by time (ties in
// the order they were added), count at most (0: all).
func (s *Server) selected(sel string, from, to float64, count int) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.msgs {
		if m.Timestamp >= from && m.Timestamp <= to && matches(sel, m) {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp < out[j].Timestamp })
	if count > 0 && len(out) > count {
		out = out[:count]
	}
	return out
}

func matches(sel string, m Message) bool {
	switch {
	case sel == "all":
		return true
	case strings.HasPrefix(sel, "configuration.ident="):
		return m.Ident == strings.TrimPrefix(sel, "configuration.ident=")
	}
	for _, id := range strings.Split(sel, ",") {
		if id == strconv.Itoa(m.DeviceID) {
			return true
		}
	}
	return false
}

func writeResult(w http.ResponseWriter, msgs []Message) {
	fmt.Fprint(w, `{"result":[`)
	for i, m := range msgs {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		_, _ = w.Write(m.JSON)
	}
	fmt.Fprint(w, `]}`)
}
