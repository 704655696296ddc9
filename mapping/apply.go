package mapping

import (
	"math"
	"slices"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/bytesview"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// MaxIdentLen is the longest ident a message may have: flespi's are IMEIs,
// serial numbers and names of a few dozen characters.
const MaxIdentLen = 256

// Apply maps one message into r. received is the time the message arrived,
// used when [mapping].time says "received". It returns ErrNoIdent (or
// ErrIdentTooLong, which is one) or ErrNoTime for a message that cannot be
// stored at all; a parameter that cannot be used only lands in r.Skipped.
func (m *Mapping) Apply(msg *message.Message, received time.Time, r *Result) error {
	r.reset()
	if n := len(m.rules); len(r.Hits) < n {
		r.Hits = append(r.Hits, make([]int, n-len(r.Hits))...)
	}
	r.repeats = msg.Repeats
	if r.owner != m || r.names != msg.Names {
		clear(r.byID) // IDs of another decoder, or targets of another Mapping
		if r.owner != m {
			r.devices = nil // tags by the index of another Mapping
		}
		r.owner, r.names = m, msg.Names
		r.resolved = false
	}
	// A message with the keys of the one before (which this Result mapped)
	// has its targets too.
	if !r.resolved || !msg.SameKeys || msg.Seq != r.seq+1 {
		m.resolveAll(msg, r)
	}
	r.seq = msg.Seq
	if r.identAt < 0 {
		return ErrNoIdent
	}
	p := &msg.Params[r.identAt]
	if p.Kind != message.String || len(p.Raw) == 0 {
		return ErrNoIdent
	}
	if len(p.Raw) > MaxIdentLen {
		return ErrIdentTooLong
	}
	dev := r.device(p.Raw)
	r.Ident, r.Device = dev.ident, &dev.dev
	var ok bool
	if r.Time, ok = m.messageTime(msg, received, r); !ok {
		return ErrNoTime
	}
	r.timeNanos = r.Time.UnixNano()
	r.Future = !m.cfg.MaxFuture.Never && r.Time.Sub(received) > m.cfg.MaxFuture.Duration
	m.baseTags(msg, r, dev)
	for i := range msg.Params {
		m.applyParam(msg, i, r.targets[i], r)
	}
	r.finishPoints()
	if r.Future && len(r.Samples) > 0 {
		r.Skipped = append(r.Skipped, Skipped{"(gauges)", SkipFuture})
		r.Samples = r.Samples[:0]
	}
	return nil
}

// resolveAll finds the target of every parameter, and where the ident, the
// time sources and the message tags are: one pass instead of a search for
// each. When a name comes twice the last one wins, as in Message.Get.
func (m *Mapping) resolveAll(msg *message.Message, r *Result) {
	clear(r.targets) // they may be of another Mapping next time
	r.targets = r.targets[:0]
	r.resolved = true
	r.identAt = -1
	r.timeAt = fill(r.timeAt, len(m.cfg.Time))
	r.tagAt = fill(r.tagAt, len(m.msgTags))
	for i := range msg.Params {
		t := r.target(m, &msg.Params[i])
		r.targets = append(r.targets, t)
		if t.ident {
			r.identAt = i
		}
		if t.timeIndex >= 0 {
			r.timeAt[t.timeIndex] = i
		}
		if t.tagIndex >= 0 {
			r.tagAt[t.tagIndex] = i
		}
	}
}

// fill returns s with n elements, all -1.
func fill(s []int, n int) []int {
	s = s[:0]
	for range n {
		s = append(s, -1)
	}
	return s
}

func (r *Result) reset() {
	r.Ident, r.Device, r.Time = "", nil, time.Time{}
	r.Points = r.Points[:0]
	r.Samples = r.Samples[:0]
	r.Unmapped, r.UnmappedAt = r.Unmapped[:0], r.UnmappedAt[:0]
	r.Mapped = 0
	r.Future = false
	r.Skipped = r.Skipped[:0]
	r.Dropped = 0
	r.Tags = r.Tags[:0]
	r.paramTags = r.paramTags[:0]
}

func (m *Mapping) messageTime(msg *message.Message, received time.Time, r *Result) (time.Time, bool) {
	for k, src := range m.cfg.Time {
		if src == TimeReceived {
			return received.UTC(), true
		}
		i := r.timeAt[k]
		if i < 0 {
			continue
		}
		p := &msg.Params[i]
		if p.Kind != message.Number && p.Kind != message.String {
			continue
		}
		t, ok := p.Time()
		switch {
		case !ok:
		case !storable(t):
			// 1e11 or milliseconds sent as seconds: InfluxDB would wrap
			// it to another century. The next source decides.
			r.Skipped = append(r.Skipped, Skipped{p.Name, SkipTimeRange})
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// The times InfluxDB can store: Unix nanoseconds in an int64.
var (
	minStorable = time.Unix(0, math.MinInt64)
	maxStorable = time.Unix(0, math.MaxInt64)
)

// storable reports whether t is a time InfluxDB can store.
func storable(t time.Time) bool {
	return !t.Before(minStorable) && !t.After(maxStorable)
}

// baseTags collects ident and the message tags, sorted by key.
func (m *Mapping) baseTags(msg *message.Message, r *Result, dev *deviceStrings) {
	r.Tags = append(r.Tags, Tag{"ident", r.Ident})
	for j, t := range m.msgTags {
		if i := r.tagAt[j]; i >= 0 {
			if p := &msg.Params[i]; tagValue(p) {
				r.Tags = append(r.Tags, Tag{t.key, dev.tag(j, p.Raw)})
			}
		}
	}
	sortTags(r.Tags)
}

// tagValue reports whether a parameter can be a tag: a scalar, and not an
// empty string (InfluxDB has no empty tags).
func tagValue(p *message.Param) bool {
	switch p.Kind {
	case message.String, message.Number, message.Bool:
		return len(p.Raw) > 0
	}
	return false
}

// maxInterned bounds the devices a Result keeps strings for: past it, the
// table starts again.
const maxInterned = 1 << 14

// deviceStrings are a device's ident and message tag values as strings of
// their own, kept from one message to the next: callers keep them (gauge
// labels, the status page), and a device sends the same ones message after
// message, so one lookup by ident finds them all.
type deviceStrings struct {
	ident string
	tags  []string // by index in Mapping.msgTags: the value last seen
	dev   Device
}

// device returns the strings of the device with this ident.
func (r *Result) device(ident []byte) *deviceStrings {
	if d, ok := r.devices[string(ident)]; ok {
		return d
	}
	if r.devices == nil || len(r.devices) >= maxInterned {
		r.devices = make(map[string]*deviceStrings)
	}
	d := &deviceStrings{ident: string(ident)}
	r.devices[d.ident] = d
	return d
}

// tag returns the value of message tag j as a string, the one of the
// device's last message when it is the same.
func (d *deviceStrings) tag(j int, raw []byte) string {
	if j >= len(d.tags) {
		d.tags = append(d.tags, make([]string, j+1-len(d.tags))...)
	}
	if d.tags[j] != string(raw) { // compared without a copy
		d.tags[j] = string(raw)
	}
	return d.tags[j]
}

func (m *Mapping) applyParam(msg *message.Message, i int, t *target, r *Result) {
	p := &msg.Params[i]
	switch {
	case t.consumed:
		return
	case t.tooLong:
		r.Skipped = append(r.Skipped, Skipped{p.Name[:64] + "…", SkipNameTooLong})
		return
	case t.rule == nil:
		r.Unmapped = append(r.Unmapped, p.Name)
		r.UnmappedAt = append(r.UnmappedAt, i)
		if m.raw && !r.NoPoints {
			m.rawField(p, t, r)
		}
		return
	}
	r.Mapped++
	r.Hits[t.rule.index]++
	if t.rule.drop {
		r.Dropped++
		return
	}
	ru := t.rule
	// The value is coerced straight into a new field when the rule makes
	// one: a Value built aside and copied in costs more than the rest of
	// the field (stores of its parts, then loads of the whole).
	var aside Value
	v, f, pt := &aside, (*Field)(nil), (*Point)(nil)
	if ru.influx && !r.NoPoints && ru.tag == "" && !t.conflict {
		pt = r.point(ru.measurement, t.tags)
		var isNew bool
		if f, isNew = pt.field(t.field, t.ownName && !r.repeats); isNew {
			v = &f.Value
		}
	}
	if reason := ru.coerce(p, v); reason != "" {
		if v != &aside {
			pt.Fields = pt.Fields[:len(pt.Fields)-1]
		}
		r.Skipped = append(r.Skipped, Skipped{p.Name, reason})
		return
	}
	switch {
	case f != nil:
		if v == &aside { // a second value for the key replaces the first
			f.Value = aside
		}
		f.Key, f.Plain = t.field, t.plain
	case !ru.influx || r.NoPoints:
	case ru.tag != "":
		if s := v.text(); s != "" {
			r.paramTags = append(r.paramTags, paramTag{ru.measurement, Tag{ru.tag, s}})
		}
	case t.conflict:
		r.Skipped = append(r.Skipped, Skipped{p.Name, SkipFieldConflict})
	}
	if t.reserved {
		r.Skipped = append(r.Skipped, Skipped{p.Name, SkipReservedName})
	}
	if t.gauge != nil {
		r.Samples = append(r.Samples, Sample{Gauge: t.gauge, Value: ru.unit.convert(v.gaugeValue()), Time: r.timeNanos})
	}
}

// rawField keeps an unmatched number or boolean as a float field.
func (m *Mapping) rawField(p *message.Param, t *target, r *Result) {
	var f float64
	switch p.Kind {
	case message.Number:
		var ok bool
		if f, ok = p.Float(); !ok {
			return
		}
	case message.Bool:
		if p.Bool() {
			f = 1
		}
	default:
		return
	}
	if !t.conflict {
		fd, _ := r.point(m.cfg.Measurement, nil).field(p.Name, !r.repeats)
		fd.Key, fd.Value, fd.Plain = p.Name, Value{Type: TypeFloat, Float: f}, false
	}
}

// point returns the point of the message for measurement and extra tags,
// adding it when it is new. Points reuse the memory of earlier messages.
func (r *Result) point(measurement string, extra []Tag) *Point {
	// Most fields of a message go to the point of the field before: its
	// measurement and tags are the same strings and slice, which compare
	// without reading them.
	if r.last < len(r.Points) {
		p := &r.Points[r.last]
		if bytesview.Same(p.Measurement, measurement) &&
			len(p.extra) == len(extra) && (len(extra) == 0 || &p.extra[0] == &extra[0]) {
			return p
		}
	}
	for i := range r.Points {
		p := &r.Points[i]
		if p.Measurement == measurement && slices.Equal(p.extra, extra) {
			r.last = i
			return p
		}
	}
	if len(r.Points) < cap(r.Points) {
		r.Points = r.Points[:len(r.Points)+1]
	} else {
		r.Points = append(r.Points, Point{})
	}
	r.last = len(r.Points) - 1
	p := &r.Points[r.last]
	p.Measurement, p.extra, p.Time = measurement, extra, r.Time
	p.Tags, p.Fields, p.search = p.Tags[:0], p.Fields[:0], false
	return p
}

// field returns the field of key to set, and whether it is new: a second
// value for the same key replaces the first. ownName says the key is the
// parameter's own name in a message without repeated names: no other
// parameter's own name can equal it, so only a point that also has other
// keys needs to look for it. A new field is set in place, so that it is
// not copied on the way.
func (p *Point) field(key string, ownName bool) (*Field, bool) {
	if !ownName {
		p.search = true
	}
	if p.search {
		for i := range p.Fields {
			if p.Fields[i].Key == key {
				return &p.Fields[i], false
			}
		}
	}
	if len(p.Fields) < cap(p.Fields) {
		p.Fields = p.Fields[:len(p.Fields)+1]
	} else {
		p.Fields = append(p.Fields, Field{})
	}
	return &p.Fields[len(p.Fields)-1], true
}

// finishPoints gives every point its tags and removes points that ended
// up without fields (InfluxDB needs at least one).
func (r *Result) finishPoints() {
	n := 0
	for i := range r.Points {
		p := &r.Points[i]
		if len(p.Fields) == 0 {
			continue
		}
		p.Tags = append(p.Tags[:0], r.Tags...)
		p.Tags = append(p.Tags, p.extra...)
		for _, pt := range r.paramTags {
			if pt.measurement == p.Measurement {
				p.Tags = setTag(p.Tags, pt.tag)
			}
		}
		sortTags(p.Tags)
		if i != n {
			r.Points[i], r.Points[n] = r.Points[n], r.Points[i]
		}
		n++
	}
	r.Points = r.Points[:n]
}

func setTag(tags []Tag, t Tag) []Tag {
	for i := range tags {
		if tags[i].Key == t.Key {
			tags[i].Value = t.Value
			return tags
		}
	}
	return append(tags, t)
}

// sortTags is an insertion sort: tag lists are a handful long.
func sortTags(t []Tag) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Key < t[j-1].Key; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}
