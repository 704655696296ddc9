// Package devices is the device registry: every device the exporter has
// seen, with its labels and name, the device time of its newest message,
// when a message of it last arrived and by which source. It is the one
// place that holds a device: the last-message gauges and the status page
// both read it. It is kept in the data directory, so that
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
	"sync/atomic"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/gauges"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Seen is one stored message of a device.
type Seen struct {
	Ident    string
	Labels   []mapping.Label // ident and message tags, sorted by name; not owned
	Name     []byte          // device.name of the message; not owned
	At       int64           // device time, Unix nanoseconds; 0: not to be the newest
	Received int64           // when flespi received it (server.timestamp), else its arrival; Unix ns
	Arrival  int64           // when the exporter received it, Unix ns
	Mapped   int             // parameters a rule matched
	Unmapped int             // parameters no rule matched
	Motion   Motion          // moving or parked, as far as the message says
	Device   *mapping.Device // the device's place (mapping.Result.Device); may be nil
}

// device is one registered device.
type device struct {
	labels       []mapping.Label // owned
	name         string          // device.name of its newest message
	source       string          // where its last message came from: http, mqtt, import
	lastMessage  int64           // newest device time, Unix ns
	lastReceived int64           // newest upload (Seen.Received), Unix ns
	lastArrival  int64           // newest arrival at the exporter: what forgetting counts from
	messages     int64           // since the exporter started
	// parameters of its newest message: matched by a rule, and not
	mapped, unmapped int
	rhythm           rhythm // its usual gaps between messages
	// changed says that the registry's changed set holds it already: a
	// device's later messages before the next save skip that lookup.
	changed bool
	reg     *Registry // whose it is (a mapping.Device slot holds it)
	gone    bool      // removed from the registry
}

// slot is the Registry's place in every mapping.Device.
var slot = mapping.NewSlot()

// Registry holds every device seen. It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	saveMu  sync.Mutex
	devices map[string]*device // by ident
	changed map[string]bool    // idents changed since the last save: what it writes
	// generation is devices.json's: its full saves counted (journal.go).
	generation int64
	forget     time.Duration // 0: never
	now        func() time.Time
	file       string // "" : kept in memory only
	log        *slog.Logger
	silence    *SilencePolicy
	max        int           // devices registered at most; 0: no bound
	refused    atomic.Uint64 // messages of devices past max, not registered
	warned     time.Time     // when the last refusal was logged
}

// Refused counts the messages of devices not registered, past
// data.max_devices.
func (r *Registry) Refused() uint64 { return r.refused.Load() }

// SetSilence sets how silence is measured (at start and on reload).
func (r *Registry) SetSilence(p *SilencePolicy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.silence = p
}

// Update registers the devices of a stored batch from source. The
// last-message time only moves forward: flespi delivers buffered messages
// late, and they do not turn a device's clock, name or labels back.
func (r *Registry) Update(seen []Seen, source string) {
	if len(seen) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range seen {
		s := &seen[i]
		d := r.device(s)
		if d == nil {
			r.refuse(s.Ident)
			continue
		}
		d.messages++
		d.source = source
		if !d.changed {
			d.changed = true
			r.change(s.Ident)
		}
		d.lastArrival = max(d.lastArrival, s.Arrival)
		if s.Received > d.lastReceived {
			d.rhythm.upload(time.Duration(s.Received-d.lastReceived), d.lastReceived != 0)
			d.lastReceived = s.Received
		}
		if s.At < d.lastMessage || (s.At == 0 && d.lastMessage != 0) {
			continue // late: the newest message's name and counts stay
		}
		d.rhythm.set(s.Motion)
		d.lastMessage = s.At
		if !slices.Equal(d.labels, s.Labels) {
			d.labels = cloneLabels(s.Labels) // renamed: the newest message's name wins
		}
		if len(s.Name) > 0 && string(s.Name) != d.name { // compared without a copy
			d.name = string(s.Name)
		}
		d.mapped, d.unmapped = s.Mapped, s.Unmapped
	}
}

// device finds or registers the device of s: the one its mapping.Device
// holds when that is still registered here, else by ident. It returns nil
// for a new device past data.max_devices. r.mu is held.
func (r *Registry) device(s *Seen) *device {
	if d, ok := s.Device.Get(slot).(*device); ok && d.reg == r && !d.gone {
		return d
	}
	d := r.devices[s.Ident]
	if d == nil {
		if r.max > 0 && len(r.devices) >= r.max {
			return nil
		}
		d = &device{labels: cloneLabels(s.Labels), reg: r}
		r.devices[strings.Clone(s.Ident)] = d
	}
	s.Device.Set(slot, d)
	return d
}

// remove takes the device of ident out of the registry. r.mu is held.
func (r *Registry) remove(ident string) {
	if d := r.devices[ident]; d != nil {
		d.gone = true
		delete(r.devices, ident)
	}
}

// refuse counts a message of a device past data.max_devices, and says so
// at most once a minute: its data is stored, but no gauge says when it
// was last heard. r.mu is held.
func (r *Registry) refuse(ident string) {
	r.refused.Add(1)
	if now := r.now(); now.Sub(r.warned) >= time.Minute {
		r.warned = now
		r.log.Warn("the device registry is full (data.max_devices): new devices are stored but not registered, so no silence alert covers them; raise data.max_devices or forget devices",
			"max_devices", r.max, "example_ident", ident, "messages_refused", r.refused.Load())
	}
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
	r.remove(ident)
	r.change(ident)
	return true
}

// change notes that a device changed (or went) since the last save. r.mu
// is held.
func (r *Registry) change(ident string) {
	if r.changed == nil {
		r.changed = map[string]bool{}
	}
	if !r.changed[ident] {
		r.changed[strings.Clone(ident)] = true
	}
}

// takeChanged returns the devices changed since the last save, as they
// are now (nil: gone), and starts the next set. r.mu is held.
func (r *Registry) takeChanged() map[string]*snapshot {
	out := make(map[string]*snapshot, len(r.changed))
	for ident := range r.changed {
		if d := r.devices[ident]; d != nil {
			d.changed = false
			out[ident] = &snapshot{ident, *d, 0}
		} else {
			out[ident] = nil
		}
	}
	r.changed = nil
	return out
}

// giveBackChanged marks again what a failed save did not write. r.mu is
// held.
func (r *Registry) giveBackChanged(changed map[string]*snapshot) {
	for ident := range changed {
		r.change(ident)
		if d := r.devices[ident]; d != nil {
			d.changed = true
		}
	}
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
		// From the exporter's clock: a device whose history was just
		// imported, or delivered after an outage, is not forgotten for the
		// age of its uploads.
		if max(d.lastReceived, d.lastArrival) < cutoff {
			r.remove(ident)
			r.change(ident)
			r.log.Info("forgot a device silent for longer than data.forget_devices_after", "ident", ident,
				"last_received", time.Unix(0, d.lastReceived).UTC(), "last_arrival", time.Unix(0, d.lastArrival).UTC())
		}
	}
}

// snapshot is one device as a scrape, a save or a listing reads it.
type snapshot struct {
	ident string
	device
	silentAfter time.Duration
}

// snapshots copies the devices, sorted by ident, after a sweep, with
// their silence when withSilence (a full save needs none). Labels are
// never modified once set (a rename sets new ones), so they are shared.
func (r *Registry) snapshots(withSilence bool) []snapshot {
	r.mu.Lock()
	r.sweep()
	out := make([]snapshot, 0, len(r.devices))
	for ident, d := range r.devices {
		s := snapshot{ident: ident, device: *d}
		if withSilence {
			s.silentAfter = r.silentAfter(ident, d)
		}
		out = append(out, s)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b snapshot) int { return strings.Compare(a.ident, b.ident) })
	return out
}

// The help texts of the device gauges.
const (
	HelpLastMessage  = "Device time of the newest message of the device, in Unix seconds: time() minus it is how long the device has been silent."
	HelpLastReceived = "When the device last uploaded, in Unix seconds: when flespi received its newest message (server.timestamp), or the exporter did without it (late buffered messages count too)."
	HelpSilentAfter  = "After how long without a message the device counts as silent, in seconds: its usual gap between uploads in the state of its newest message (moving or parked) times silence.factor, within silence.floor and silence.max, or what [[silence.device]] sets. The FlespiDeviceSilent alert compares time() minus the last-received gauge with it."
)

// WriteText writes the device gauges of every registered device in the
// Prometheus text format, with the names of m's device gauges.
// They carry no TTL: a silent device stays, and ages.
func (r *Registry) WriteText(w io.Writer, m *mapping.Mapping) error {
	devs := r.snapshots(true)
	last, received := m.DeviceGauges()
	silentAfter := m.SilenceGauge()
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	help := map[*mapping.Gauge]string{last: HelpLastMessage, received: HelpLastReceived, silentAfter: HelpSilentAfter}
	for _, g := range []*mapping.Gauge{last, received, silentAfter} {
		line = append(line[:0], "# HELP "...)
		line = append(line, g.Name...)
		line = append(line, ' ')
		line = gauges.AppendHelp(line, help[g])
		line = append(line, "\n# TYPE "+g.Name+" gauge\n"...)
		for i := range devs {
			var v float64
			switch g {
			case last:
				v = unixSeconds(devs[i].lastMessage)
			case received:
				v = unixSeconds(devs[i].lastReceived)
			default:
				v = devs[i].silentAfter.Seconds()
			}
			line = gauges.AppendSeries(line, g.Name, devs[i].labels, nil, v)
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

// silentAfter is a device's silence under the policy in use. r.mu is held.
func (r *Registry) silentAfter(ident string, d *device) time.Duration {
	return r.silence.silentAfter(ident, d.name, &d.rhythm)
}

// unixSeconds is Unix nanoseconds as fractional seconds, as
// mapping.UnixSeconds makes them of a time.
func unixSeconds(ns int64) float64 { return mapping.UnixSeconds(time.Unix(0, ns)) }

// Reload takes a reloaded configuration's [silence].
func (r *Registry) Reload(cfg *config.Loaded) []string {
	r.SetSilence(NewSilencePolicy(cfg.Silence))
	return nil
}

// Close saves what changed since the last save (an import that ran alone
// on the data directory; after Run, there is nothing left to save).
func (r *Registry) Close() {
	if err := r.Save(); err != nil {
		r.log.Error("the device registry was not saved", "err", err)
	}
}
