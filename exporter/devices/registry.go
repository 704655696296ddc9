// Package devices is the device registry: every device the exporter has
// seen, with its labels, the device time of its newest message and when a
// message of it last arrived. It is kept in the data directory, so that
// the last-message gauges are served from the first scrape after a start:
// an unplugged or stolen tracker must stay silent to Prometheus, not
// vanish with a restart or a gauge TTL. A device is forgotten only after
// data.forget_devices_after without messages, or on request.
package devices

import (
	"bufio"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Seen is one stored message of a device.
type Seen struct {
	Ident    string
	Labels   []mapping.Label // ident and message tags, sorted by name; not owned
	At       int64           // device time, Unix nanoseconds
	Received int64           // arrival, Unix nanoseconds
}

// device is one registered device.
type device struct {
	labels       []mapping.Label // owned
	lastMessage  int64           // newest device time, Unix ns
	lastReceived int64           // newest arrival, Unix ns
}

// Registry holds every device seen. It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	devices map[string]*device // by ident
	dirty   bool               // changed since the last save
	forget  time.Duration      // 0: never
	now     func() time.Time
	file    string // "" : kept in memory only
	log     *slog.Logger
}

// Update registers the devices of a stored batch. The last-message time
// only moves forward: flespi delivers buffered messages late.
func (r *Registry) Update(seen []Seen) {
	if len(seen) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range seen {
		s := &seen[i]
		d := r.devices[s.Ident]
		if d == nil {
			d = &device{labels: cloneLabels(s.Labels)}
			r.devices[strings.Clone(s.Ident)] = d
		} else if !slices.Equal(d.labels, s.Labels) && s.At >= d.lastMessage {
			d.labels = cloneLabels(s.Labels) // renamed: the newest message's name wins
		}
		d.lastMessage = max(d.lastMessage, s.At)
		d.lastReceived = max(d.lastReceived, s.Received)
	}
	r.dirty = true
}

// cloneLabels copies labels and their strings, which may point into a
// request body.
func cloneLabels(labels []mapping.Label) []mapping.Label {
	out := make([]mapping.Label, len(labels))
	for i, l := range labels {
		out[i] = mapping.Label{Name: strings.Clone(l.Name), Value: strings.Clone(l.Value)}
	}
	return out
}

// Forget removes a device; it reports whether there was one. The device
// comes back with its next message.
func (r *Registry) Forget(ident string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.devices[ident]; !ok {
		return false
	}
	delete(r.devices, ident)
	r.dirty = true
	return true
}

// Len is the number of registered devices.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.devices)
}

// sweep forgets the devices silent for longer than the forget setting.
// r.mu is held.
func (r *Registry) sweep() {
	if r.forget <= 0 {
		return
	}
	cutoff := r.now().Add(-r.forget).UnixNano()
	for ident, d := range r.devices {
		if d.lastReceived < cutoff {
			delete(r.devices, ident)
			r.dirty = true
			r.log.Info("forgot a device silent for longer than data.forget_devices_after", "ident", ident,
				"last_received", time.Unix(0, d.lastReceived).UTC())
		}
	}
}

// snapshot is one device as a scrape or a save reads it.
type snapshot struct {
	ident                     string
	labels                    []mapping.Label
	lastMessage, lastReceived int64
}

// snapshots copies the devices, sorted by ident, after a sweep.
func (r *Registry) snapshots() []snapshot {
	r.mu.Lock()
	r.sweep()
	out := make([]snapshot, 0, len(r.devices))
	for ident, d := range r.devices {
		out = append(out, snapshot{ident, d.labels, d.lastMessage, d.lastReceived})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b snapshot) int { return strings.Compare(a.ident, b.ident) })
	return out
}

// WriteText writes the device gauges of every registered device in the
// Prometheus text format, with the names and help of m's device gauges.
// They carry no TTL: a silent device stays, and ages.
func (r *Registry) WriteText(w io.Writer, m *mapping.Mapping) error {
	devs := r.snapshots()
	last, received := m.DeviceGauges()
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	for _, g := range []*mapping.Gauge{last, received} {
		line = append(line[:0], "# HELP "...)
		line = append(line, g.Name...)
		line = append(line, ' ')
		line = mapping.AppendHelp(line, g.Help)
		line = append(line, "\n# TYPE "+g.Name+" gauge\n"...)
		for i := range devs {
			t := devs[i].lastMessage
			if g == received {
				t = devs[i].lastReceived
			}
			line = mapping.AppendSeries(line, g.Name, devs[i].labels, nil, unixSeconds(t))
			if len(line) > 32<<10 {
				if _, err := bw.Write(line); err != nil {
					return err
				}
				line = line[:0]
			}
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// unixSeconds is Unix nanoseconds as fractional seconds, as
// mapping.UnixSeconds makes them of a time.
func unixSeconds(ns int64) float64 { return mapping.UnixSeconds(time.Unix(0, ns)) }

// Device is what List says of a registered device.
type Device struct {
	Ident        string
	Labels       map[string]string // the message tags (device_name), without ident
	LastMessage  time.Time         // device time of the newest message
	LastReceived time.Time         // arrival of the last message
}

// List returns the registered devices, sorted by ident.
func (r *Registry) List() []Device {
	snaps := r.snapshots()
	out := make([]Device, len(snaps))
	for i, s := range snaps {
		out[i] = Device{Ident: s.ident, Labels: map[string]string{},
			LastMessage: time.Unix(0, s.lastMessage).UTC(), LastReceived: time.Unix(0, s.lastReceived).UTC()}
		for _, l := range s.labels {
			if l.Name != "ident" {
				out[i].Labels[l.Name] = l.Value
			}
		}
	}
	return out
}
