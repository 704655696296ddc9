package devices

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Device is what List says of a registered device.
type Device struct {
	Ident        string            `json:"ident"`
	Name         string            `json:"name"`             // device.name of its newest message
	Labels       map[string]string `json:"labels,omitempty"` // the message tags (device_name), without ident
	LastMessage  time.Time         `json:"last_message"`     // device time of the newest message
	LastReceived time.Time         `json:"last_received"`    // its newest upload: server.timestamp, else arrival
	Messages     int64             `json:"messages"`         // since the exporter started
	Mapped       int               `json:"mapped"`           // parameters a rule matched, in its newest message
	Unmapped     int               `json:"unmapped"`         // parameters no rule matched, in its newest message
	Source       string            `json:"source"`           // where its last message came from: http, mqtt, import
	// Moving is the state of its newest message; SilentAfter its silence
	// in seconds (see the silent-after gauge); UsualGap the gap it
	// learned for that state, 0 while it has too few.
	Moving      bool    `json:"moving"`
	SilentAfter float64 `json:"silent_after_seconds"`
	UsualGap    float64 `json:"usual_gap_seconds"`
	// Silent: nothing received from it for longer than its silence, now.
	Silent bool `json:"silent"`
}

// List returns the registered devices, sorted by ident.
func (r *Registry) List() []Device {
	devs, _ := r.Find(Query{})
	return devs
}

// Query picks a page of the devices for the status page.
type Query struct {
	// Filter keeps the devices whose ident or name holds it, without
	// regard to case; "" keeps all.
	Filter string
	// Sort is the order: "ident" (the default), "name", "last_message",
	// "last_received", "messages", "mapped", "unmapped", "source".
	Sort string
	Desc bool
	// Offset and Limit cut the page; Limit 0 is no limit.
	Offset, Limit int
}

// Find returns the page of devices q asks for, and how many devices match
// q's filter in all.
func (r *Registry) Find(q Query) ([]Device, int) {
	snaps := r.snapshots(true)
	if q.Filter != "" {
		f := strings.ToLower(q.Filter)
		snaps = slices.DeleteFunc(snaps, func(s snapshot) bool {
			return !strings.Contains(strings.ToLower(s.ident), f) && !strings.Contains(strings.ToLower(s.name), f)
		})
	}
	if by := order(q.Sort); by != nil {
		slices.SortStableFunc(snaps, by) // ties stay by ident
	}
	if q.Desc {
		slices.Reverse(snaps)
	}
	total := len(snaps)
	snaps = snaps[min(q.Offset, total):]
	if q.Limit > 0 && len(snaps) > q.Limit {
		snaps = snaps[:q.Limit]
	}
	out := make([]Device, len(snaps))
	now := r.now().UnixNano()
	for i, s := range snaps {
		out[i] = s.public()
		out[i].Silent = s.lastReceived > 0 && time.Duration(now-s.lastReceived) > s.silentAfter
	}
	return out, total
}

// order compares snapshots by a Query.Sort; nil keeps them by ident.
func order(sort string) func(a, b snapshot) int {
	switch sort {
	case "name":
		return func(a, b snapshot) int { return strings.Compare(a.name, b.name) }
	case "last_message":
		return func(a, b snapshot) int { return cmp.Compare(a.lastMessage, b.lastMessage) }
	case "last_received":
		return func(a, b snapshot) int { return cmp.Compare(a.lastReceived, b.lastReceived) }
	case "messages":
		return func(a, b snapshot) int { return cmp.Compare(a.messages, b.messages) }
	case "mapped":
		return func(a, b snapshot) int { return cmp.Compare(a.mapped, b.mapped) }
	case "unmapped":
		return func(a, b snapshot) int { return cmp.Compare(a.unmapped, b.unmapped) }
	case "source":
		return func(a, b snapshot) int { return strings.Compare(a.source, b.source) }
	}
	return nil
}

// SortKeys are the orders Query.Sort takes.
var SortKeys = []string{"ident", "name", "last_message", "last_received", "messages", "mapped", "unmapped", "source"}

func (s *snapshot) public() Device {
	d := Device{Ident: s.ident, Name: s.name, Labels: map[string]string{},
		LastMessage: time.Unix(0, s.lastMessage).UTC(), LastReceived: time.Unix(0, s.lastReceived).UTC(),
		Messages: s.messages, Mapped: s.mapped, Unmapped: s.unmapped, Source: s.source,
		Moving: s.rhythm.moving, SilentAfter: s.silentAfter.Seconds(), UsualGap: s.rhythm.usual().Seconds()}
	if s.lastMessage == 0 {
		d.LastMessage = time.Time{}
	}
	for _, l := range s.labels {
		if l.Name != "ident" {
			d.Labels[l.Name] = l.Value
		}
	}
	return d
}
