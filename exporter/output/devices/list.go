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
	devs, _ := r.Find(Query{Sort: "ident"})
	return devs
}

// Query picks a page of the devices for the status page.
type Query struct {
	// Filter keeps the devices whose ident or name holds it, without
	// regard to case; "" keeps all.
	Filter string
	// Silent keeps the devices silent now, past their own silence.
	Silent bool
	// Sort is the order: "overdue" (the default: how far past its own
	// silence each device is, the most overdue first), "ident", "name",
	// "last_message", "last_received", "messages", "mapped", "unmapped",
	// "source".
	Sort string
	Desc bool
	// Offset and Limit cut the page; Limit 0 is no limit.
	Offset, Limit int
}

// Find returns the page of devices q asks for, and how many devices match
// q's filter in all.
func (r *Registry) Find(q Query) ([]Device, int) {
	snaps := r.snapshots(true)
	now := r.now().UnixNano()
	if q.Filter != "" {
		f := strings.ToLower(q.Filter)
		snaps = slices.DeleteFunc(snaps, func(s snapshot) bool {
			return !strings.Contains(strings.ToLower(s.ident), f) && !strings.Contains(strings.ToLower(s.name), f)
		})
	}
	if q.Silent {
		snaps = slices.DeleteFunc(snaps, func(s snapshot) bool { return !s.silent(now) })
	}
	if by := order(q.Sort, now); by != nil {
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
	for i, s := range snaps {
		out[i] = s.public()
		out[i].Silent = s.silent(now)
	}
	return out, total
}

// Silent counts the devices silent now, past their own silence, and
// returns the first few, the most overdue first.
func (r *Registry) Silent(few int) (n int, first []Device) {
	first, n = r.Find(Query{Silent: true, Limit: few})
	return n, first
}

// silent reports whether nothing came from the device for longer than its
// silence, at now (Unix ns).
func (s *snapshot) silent(now int64) bool {
	return s.lastReceived > 0 && time.Duration(now-s.lastReceived) > s.silentAfter
}

// overdue is how far the device is into its silence: the time since its
// last upload over its silence (past 1: silent).
func (s *snapshot) overdue(now int64) float64 {
	if s.lastReceived == 0 || s.silentAfter <= 0 {
		return 0
	}
	return float64(now-s.lastReceived) / float64(s.silentAfter)
}

// order compares snapshots by a Query.Sort at now; nil keeps them by ident.
func order(sort string, now int64) func(a, b snapshot) int {
	switch sort {
	case "", "overdue": // the most overdue first
		return func(a, b snapshot) int { return cmp.Compare(b.overdue(now), a.overdue(now)) }
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
var SortKeys = []string{"overdue", "ident", "name", "last_message", "last_received", "messages", "mapped", "unmapped", "source"}

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
