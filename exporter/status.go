package exporter

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Bounds of what the status page tracks, so that its memory stays small
// whatever the streams send.
const (
	maxStatusDevices  = 10_000 // devices listed; messages of others are only counted
	maxUnmappedNames  = 1_000  // unmapped parameter names listed
	maxDevicesPerName = 1_000  // devices counted per unmapped name; past it "1000+"
)

// statusTracker keeps what the status page shows: devices, parameters no
// rule maps, and rule hits. It is updated once per stored batch.
type statusTracker struct {
	mu               sync.Mutex
	devices          map[string]*deviceStatus
	untrackedDevices int64 // messages of devices past maxStatusDevices
	unmapped         map[string]*unmappedParam
	untrackedNames   int64 // unmapped values whose names are past maxUnmappedNames
	hits             []int64
	hitsFor          *mapping.Mapping
}

type deviceStatus struct {
	Ident        string    `json:"ident"`
	Name         string    `json:"name"`
	LastMessage  time.Time `json:"last_message"`
	LastReceived time.Time `json:"last_received"`
	Messages     int64     `json:"messages"`
	Mapped       int       `json:"mapped"`   // parameters a rule matched, in the last message
	Unmapped     int       `json:"unmapped"` // parameters no rule matched, in the last message
	Source       string    `json:"source"`   // where its last message came from: http, mqtt

	// lastUnmapped are the unmapped parameters of the device's last
	// message, which already count the device: its next message most
	// often has the same, counted without looking each up (and the
	// device in each one's set).
	lastUnmapped []*unmappedParam
}

type unmappedParam struct {
	name        string
	messages    int64
	devices     map[string]struct{}
	devicesMore bool
	example     string
	kind        message.Kind
}

func newStatusTracker() *statusTracker {
	return &statusTracker{devices: map[string]*deviceStatus{}, unmapped: map[string]*unmappedParam{}}
}

// Record adds a stored batch.
func (s *statusTracker) Record(b *pipeline.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs := b.Messages()
	for i := range msgs {
		ms := &msgs[i]
		values := b.Unmapped(ms)
		d := s.device(ms, len(values), b.Received())
		if d != nil {
			d.Source = b.Source()
		}
		s.unmappedValues(d, ms.Ident, values)
	}
	m := b.Mapping()
	if s.hitsFor != m { // new rules: their counts start again
		s.hits, s.hitsFor = make([]int64, m.NumRules()), m
	}
	for i, n := range b.Hits() {
		if i < len(s.hits) {
			s.hits[i] += int64(n)
		}
	}
}

// forget removes a device from the page; it reports whether it was there.
func (s *statusTracker) forget(ident string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.devices[ident]
	delete(s.devices, ident)
	return ok
}

// device counts a message of a device and returns it; nil for a device
// past maxStatusDevices.
func (s *statusTracker) device(ms *pipeline.MessageStatus, unmapped int, received time.Time) *deviceStatus {
	d := s.devices[ms.Ident]
	if d == nil {
		if len(s.devices) >= maxStatusDevices {
			s.untrackedDevices++
			return nil
		}
		d = &deviceStatus{Ident: ms.Ident}
		s.devices[ms.Ident] = d
	}
	d.Messages++
	d.LastReceived = received
	if !ms.At.Before(d.LastMessage) { // late buffered messages do not turn the clock back
		d.LastMessage, d.Mapped, d.Unmapped = ms.At, ms.Mapped, unmapped
	}
	if len(ms.Name) > 0 && string(ms.Name) != d.Name { // compared without a copy
		d.Name = string(ms.Name)
	}
	return d
}

// unmappedValues counts the unmapped values of one message of device d
// (nil: not tracked).
func (s *statusTracker) unmappedValues(d *deviceStatus, ident string, values []pipeline.UnmappedValue) {
	if d == nil {
		for _, u := range values {
			s.unmappedValue(ident, u)
		}
		return
	}
	if sameUnmapped(d.lastUnmapped, values) {
		for _, p := range d.lastUnmapped {
			p.messages++
		}
		return
	}
	d.lastUnmapped = d.lastUnmapped[:0]
	for _, u := range values {
		if p := s.unmappedValue(ident, u); p != nil {
			d.lastUnmapped = append(d.lastUnmapped, p)
		}
	}
	if len(d.lastUnmapped) != len(values) { // some not tracked: no shortcut
		d.lastUnmapped = d.lastUnmapped[:0]
	}
}

func sameUnmapped(ps []*unmappedParam, values []pipeline.UnmappedValue) bool {
	if len(ps) != len(values) || len(ps) == 0 {
		return false
	}
	for i, p := range ps {
		if p.name != values[i].Name {
			return false
		}
	}
	return true
}

// unmappedValue counts one unmapped value and returns its name's entry;
// nil for a name past maxUnmappedNames.
func (s *statusTracker) unmappedValue(ident string, u pipeline.UnmappedValue) *unmappedParam {
	p := s.unmapped[u.Name]
	if p == nil {
		if len(s.unmapped) >= maxUnmappedNames {
			s.untrackedNames++
			return nil
		}
		p = &unmappedParam{name: u.Name, devices: map[string]struct{}{}, example: string(u.Example), kind: u.Kind}
		s.unmapped[u.Name] = p
	}
	p.messages++
	if _, ok := p.devices[ident]; !ok {
		if len(p.devices) < maxDevicesPerName {
			p.devices[ident] = struct{}{}
		} else {
			p.devicesMore = true
		}
	}
	return p
}

// statusDevice, statusUnmapped and statusRule are the JSON of the page.
type statusUnmapped struct {
	Name        string `json:"name"`
	Devices     int    `json:"devices"`
	DevicesMore bool   `json:"devices_more,omitempty"` // more devices than counted
	Messages    int64  `json:"messages"`
	Example     string `json:"example"`
	Type        string `json:"type"`
	Suggestion  string `json:"suggestion"`
}

type statusRule struct {
	Index   int    `json:"index"`
	Pattern string `json:"pattern"`
	Output  string `json:"output"`
	Hits    int64  `json:"hits"`
}

// snapshot copies the tracked state, sorted: devices by ident, unmapped
// names by messages (most first), rules in file order.
func (s *statusTracker) snapshot(m *mapping.Mapping) (devices []deviceStatus, unmapped []statusUnmapped, rules []statusRule, untrackedDevices, untrackedNames int64) {
	s.mu.Lock()
	for _, d := range s.devices {
		devices = append(devices, *d)
	}
	for name, p := range s.unmapped {
		if m.Maps(name) { // the rules in use map it now (a reload)
			delete(s.unmapped, name)
			continue
		}
		unmapped = append(unmapped, statusUnmapped{
			Name: p.name, Devices: len(p.devices), DevicesMore: p.devicesMore, Messages: p.messages,
			Example: p.example, Type: p.kind.String(), Suggestion: mapping.SuggestRule(p.name, p.kind),
		})
	}
	var hits []int64
	if s.hitsFor == m {
		hits = slices.Clone(s.hits)
	}
	untrackedDevices, untrackedNames = s.untrackedDevices, s.untrackedNames
	s.mu.Unlock()

	slices.SortFunc(devices, func(a, b deviceStatus) int { return strings.Compare(a.Ident, b.Ident) })
	slices.SortFunc(unmapped, func(a, b statusUnmapped) int {
		if a.Messages != b.Messages {
			return int(b.Messages - a.Messages)
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, r := range m.Rules() {
		sr := statusRule{Index: r.Index + 1, Pattern: r.Pattern, Output: ruleOutput(r)}
		if i < len(hits) {
			sr.Hits = hits[i]
		}
		rules = append(rules, sr)
	}
	return devices, unmapped, rules, untrackedDevices, untrackedNames
}

func ruleOutput(r mapping.RuleInfo) string {
	switch {
	case r.Drop:
		return "drop"
	case r.Field != "" && r.Gauge != "":
		return "field and gauge"
	case r.Field != "":
		return "field"
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Gauge != "":
		return "gauge"
	}
	return "nothing"
}
