package status

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// Bounds of what the tracker keeps, so that its memory stays small
// whatever the streams send.
const (
	maxUnmappedNames  = 1_000 // unmapped parameter names listed
	maxDevicesPerName = 1_000 // devices counted per unmapped name; past it "1000+"
	maxExampleLen     = 80    // bytes of an unmapped parameter's example value
)

// Tracker keeps what the status page shows of parameters and rules: the
// parameters no rule maps, with an example value and the devices that
// send them, and how many parameters each rule matched. (Devices are the
// registry's.) It is a pipeline Follower: it follows stored batches.
type Tracker struct {
	mu             sync.Mutex
	unmapped       map[string]*unmappedParam
	untrackedNames int64 // unmapped values whose names are past maxUnmappedNames
	hits           []int64
	hitsFor        *mapping.Mapping
}

type unmappedParam struct {
	gone        bool // left the list (a reload maps it now)
	name        string
	messages    int64
	devices     map[string]struct{}
	devicesMore bool
	example     string
	kind        message.Kind
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{unmapped: map[string]*unmappedParam{}}
}

// part is the Tracker's share of a batch: the unmapped values of its
// messages, each with a short copy of its value (the decoder reuses its
// buffers).
type part struct {
	values []unmappedValue
	texts  []byte // backing store of the examples
}

type unmappedValue struct {
	ident   string          // a string of its own (mapping.Result.Ident)
	dev     *mapping.Device // the device's place (mapping.Result.Device)
	at      int             // its place among its message's unmapped values
	name    string          // interned by the decoder
	kind    message.Kind
	example []byte
}

// slot is the Tracker's place in every mapping.Device.
var slot = mapping.NewSlot()

// counted is what a device's place holds: the names of the unmapped
// values of its last message, in their order, each counted with the
// device already. A device sends the same ones message after message:
// those only count a message, without two map lookups each.
type counted struct {
	tracker *Tracker
	params  []*unmappedParam
}

// NewPart returns the Tracker's part of a pipeline batch.
func (s *Tracker) NewPart() pipeline.Part { return &part{} }

// Name is the output's name.
func (s *Tracker) Name() string { return "status" }

func (p *part) Add(msg *message.Message, r *mapping.Result, _ time.Time) {
	for at, i := range r.UnmappedAt {
		v := &msg.Params[i]
		start := len(p.texts)
		p.texts = append(p.texts, v.Raw[:min(len(v.Raw), maxExampleLen)]...)
		p.values = append(p.values, unmappedValue{ident: r.Ident, dev: r.Device, at: at, name: v.Name, kind: v.Kind, example: p.texts[start:len(p.texts):len(p.texts)]})
	}
}

func (p *part) Reset() {
	clear(p.values)
	p.values, p.texts = p.values[:0], p.texts[:0]
}

func (p *part) Size() int { return int(unsafe.Sizeof(unmappedValue{}))*cap(p.values) + cap(p.texts) }

// Follow adds a stored batch.
func (s *Tracker) Follow(p pipeline.Part, b *pipeline.Batch) {
	values := p.(*part).values
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range values {
		s.count(&values[i])
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

// count counts one unmapped value. s.mu is held.
func (s *Tracker) count(u *unmappedValue) {
	if u.dev == nil { // no place to keep what was counted
		s.countNew(u)
		return
	}
	c, _ := u.dev.Get(slot).(*counted)
	if c == nil || c.tracker != s {
		c = &counted{tracker: s}
		u.dev.Set(slot, c)
	}
	if u.at < len(c.params) {
		if p := c.params[u.at]; p != nil && !p.gone && p.name == u.name {
			p.messages++
			return
		}
	}
	p := s.countNew(u)
	if u.at < len(c.params) {
		c.params[u.at] = p
	} else if u.at == len(c.params) {
		c.params = append(c.params, p)
	}
}

// countNew counts an unmapped value that its device's last message did
// not have in its place, and returns its name's entry (nil: not listed).
// s.mu is held.
func (s *Tracker) countNew(u *unmappedValue) *unmappedParam {
	p := s.unmapped[u.name]
	if p == nil {
		if len(s.unmapped) >= maxUnmappedNames {
			s.untrackedNames++
			return nil
		}
		p = &unmappedParam{name: u.name, devices: map[string]struct{}{}, example: string(u.example), kind: u.kind}
		s.unmapped[u.name] = p
	}
	p.messages++
	if _, ok := p.devices[u.ident]; !ok {
		if len(p.devices) < maxDevicesPerName {
			p.devices[u.ident] = struct{}{}
		} else {
			p.devicesMore = true
		}
	}
	return p
}

// Unmapped is a parameter no rule maps, as the page lists it.
type Unmapped struct {
	Name        string `json:"name"`
	Devices     int    `json:"devices"`
	DevicesMore bool   `json:"devices_more,omitempty"` // more devices than counted
	Messages    int64  `json:"messages"`
	Example     string `json:"example"`
	Type        string `json:"type"`
	Suggestion  string `json:"suggestion"`
}

// Rule is a rule with how many parameters it matched.
type Rule struct {
	Index   int    `json:"index"`
	Pattern string `json:"pattern"`
	Output  string `json:"output"`
	Hits    int64  `json:"hits"`
}

// snapshot copies the tracked state for the rules m: unmapped names by
// messages (most first), rules in file order. A name m maps now (a
// reload) leaves the list.
func (s *Tracker) snapshot(m *mapping.Mapping) (unmapped []Unmapped, rules []Rule, untrackedNames int64) {
	s.mu.Lock()
	for name, p := range s.unmapped {
		if m.Maps(name) {
			delete(s.unmapped, name)
			p.gone = true
			continue
		}
		unmapped = append(unmapped, Unmapped{
			Name: p.name, Devices: len(p.devices), DevicesMore: p.devicesMore, Messages: p.messages,
			Example: p.example, Type: p.kind.String(), Suggestion: mapping.SuggestRule(p.name, p.kind),
		})
	}
	var hits []int64
	if s.hitsFor == m {
		hits = slices.Clone(s.hits)
	}
	untrackedNames = s.untrackedNames
	s.mu.Unlock()

	slices.SortFunc(unmapped, func(a, b Unmapped) int {
		if a.Messages != b.Messages {
			return int(b.Messages - a.Messages)
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, r := range m.Rules() {
		sr := Rule{Index: r.Index + 1, Pattern: r.Pattern, Output: ruleOutput(r)}
		if i < len(hits) {
			sr.Hits = hits[i]
		}
		rules = append(rules, sr)
	}
	return unmapped, rules, untrackedNames
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

// Suggestion is a rule the page suggests, with the unmapped names it
// would map: io.245 and io.246 both suggest io.*, shown once.
type Suggestion struct {
	Rule  string   `json:"rule"`
	Names []string `json:"names"`
}

// groupSuggestions gathers the unmapped names by their suggested rule, in
// the order of the names (most messages first).
func groupSuggestions(unmapped []Unmapped) []Suggestion {
	var out []Suggestion
	at := map[string]int{}
	for _, u := range unmapped {
		i, ok := at[u.Suggestion]
		if !ok {
			i = len(out)
			at[u.Suggestion] = i
			out = append(out, Suggestion{Rule: u.Suggestion})
		}
		out[i].Names = append(out[i].Names, u.Name)
	}
	return out
}
