package mapping

import "github.com/flespi-exporter/flespi-exporter/message"

// target returns the target of p: from the Result's own cache when p has
// an ID (no lock, no hashing), else from the Mapping's.
func (r *Result) target(m *Mapping, p *message.Param) *target {
	id := int(p.ID)
	if id > 0 && id < len(r.byID) {
		if t := r.byID[id]; t != nil {
			return t
		}
	}
	t := m.resolve(p.Name)
	if id > 0 {
		if id >= len(r.byID) {
			r.byID = append(r.byID, make([]*target, id+1-len(r.byID))...)
		}
		r.byID[id] = t
	}
	return t
}

// target is what a parameter name resolves to: its rule and the names the
// rule's templates give for it. Targets are cached per name and shared, so
// they are never modified after resolve builds them.
type target struct {
	consumed bool // ident, a message tag or a time source: not for rules
	role
	rule     *rule // nil: no rule matched
	field    string
	plain    bool // field is a plain name: no wire format escapes it
	ownName  bool // field is the parameter's name
	conflict bool // the field name has another type elsewhere
	tags     []Tag
	gauge    *Gauge // nil for none
	reserved bool   // the gauge would have a name of the exporter's own
	tooLong  bool   // the name is longer than message.MaxNameLen
}

// resolve returns the target of a parameter name, from the cache when it
// can. Misses are cached too: most names a stream sends are unmapped.
func (m *Mapping) resolve(name string) *target {
	if len(name) > message.MaxNameLen {
		return tooLong // not looked up, not cached: a key that is data
	}
	if v, ok := m.cache.Load(name); ok {
		return v.(*target)
	}
	t := m.lookup(name)
	if m.cached.Load() < maxCached && m.cachedBytes.Load() < maxCachedBytes {
		if _, loaded := m.cache.LoadOrStore(name, t); !loaded {
			m.cached.Add(1)
			m.cachedBytes.Add(int64(t.size(name)))
		}
	}
	return t
}

// tooLong is the target of every name longer than message.MaxNameLen.
var tooLong = &target{tooLong: true, role: role{timeIndex: -1, tagIndex: -1}}

// size is roughly the memory a cache entry of t under name holds.
func (t *target) size(name string) int {
	n := 2*len(name) + 160 // the key, the target, the map's own
	n += len(t.field)
	for _, tg := range t.tags {
		n += len(tg.Key) + len(tg.Value) + 32
	}
	if t.gauge != nil {
		n += len(t.gauge.Name) + 80
		for _, l := range t.gauge.Labels {
			n += len(l.Name) + len(l.Value) + 32
		}
	}
	return n
}

// role is what a name is for a message, besides any rule of it: its ident,
// a [mapping].time source (by index) or a message tag (by index); -1 for
// not.
type role struct {
	ident               bool
	timeIndex, tagIndex int
}

func (m *Mapping) roleOf(name string) role {
	ro := role{ident: name == "ident", timeIndex: -1, tagIndex: -1}
	for k, src := range m.cfg.Time {
		if src == name && ro.timeIndex < 0 {
			ro.timeIndex = k
		}
	}
	for j, tag := range m.msgTags {
		if tag.param == name {
			ro.tagIndex = j
		}
	}
	return ro
}

func (m *Mapping) lookup(name string) *target {
	ro := m.roleOf(name)
	t := m.ruleTarget(name, ro)
	t.role = ro
	return t
}

// ruleTarget is the target of a name by the rules.
func (m *Mapping) ruleTarget(name string, ro role) *target {
	if ro.ident || ro.tagIndex >= 0 {
		return &target{consumed: true}
	}
	for _, ru := range m.rules {
		idx := ru.re.FindStringSubmatchIndex(name)
		if idx == nil {
			continue
		}
		t := &target{rule: ru}
		if ru.drop {
			return t
		}
		expand := func(tmpl string) string { return string(ru.re.ExpandString(nil, tmpl, name, idx)) }
		if ru.influx && ru.tag == "" {
			t.field = expand(ru.field)
			t.plain = PlainName(t.field)
			t.ownName = t.field == name
			t.conflict = m.conflicts(ru.measurement, t.field, ru.typ)
			for _, p := range ru.tags {
				if v := expand(p.tmpl); v != "" {
					t.tags = append(t.tags, Tag{p.key, v})
				}
			}
		}
		if ru.prom {
			g := &Gauge{
				Name: withSuffix(invalidName.ReplaceAllString(expand(ru.gauge), "_"), ru.unit.suffix),
				Help: ru.help, TTL: ru.ttlOf(),
			}
			for _, p := range ru.labels { // sorted by key already
				if v := expand(p.tmpl); v != "" {
					g.Labels = append(g.Labels, Label{p.key, v})
				}
			}
			// A template can expand to a name of the exporter's own, which
			// Compile cannot see: such a parameter makes no gauge.
			if t.reserved = m.reservedGauge(g.Name); !t.reserved {
				t.gauge = g
			}
		}
		return t
	}
	if ro.timeIndex >= 0 {
		// Unless a rule says otherwise, a timestamp is the point time and
		// nothing else.
		return &target{consumed: true}
	}
	return &target{conflict: m.raw && m.conflicts(m.cfg.Measurement, name, TypeFloat)}
}

// conflicts reports whether a field name that comes from a template or the
// raw mode is already a field of another type under a fixed name.
func (m *Mapping) conflicts(measurement, field string, typ Type) bool {
	t, ok := m.staticFields[measurement+"\x00"+field]
	return ok && t != typ
}

// Maps reports whether a rule (or [mapping]: ident, a tag, a time source)
// takes the parameter name, so that it is not unmapped: after a reload,
// names the new rules map leave the status page's unmapped list.
func (m *Mapping) Maps(name string) bool {
	t := m.resolve(name)
	return t.rule != nil || t.consumed
}
