package mapping

import (
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// Errors for messages that produce nothing.
var (
	ErrNoIdent = errors.New("message has no ident (a non-empty string)")
	ErrNoTime  = errors.New("message has none of the timestamps [mapping].time names")
)

// Reasons a parameter value is skipped, as counted in Result.Skipped.
const (
	SkipNull          = "null"                // the value is null
	SkipUnsupported   = "unsupported_type"    // an array or object for a rule that is not type json
	SkipUncoercible   = "uncoercible"         // e.g. "abc" for a float rule
	SkipNotInteger    = "not_integer"         // 1.5 for an integer rule
	SkipNotFinite     = "not_finite"          // a value beyond float64 after scale
	SkipFieldConflict = "field_type_conflict" // the field name is used with another type
)

// SkipReasons lists every reason a value can be skipped for.
var SkipReasons = []string{SkipNull, SkipUnsupported, SkipUncoercible, SkipNotInteger, SkipNotFinite, SkipFieldConflict}

// Result is what Apply makes of one message. Pass the same Result to Apply
// again to reuse its memory: what it holds is only valid until then, and
// the text of string values (Value.Str, and tags a rule makes of a string
// parameter) only as long as the message is. Ident and Tags values made of
// the message's ident and [mapping].tags are strings of their own.
type Result struct {
	Ident    string
	Time     time.Time
	Tags     []Tag // ident and the [mapping].tags of the message, sorted by key
	Points   []Point
	Samples  []Sample
	Unmapped []string // parameters no rule matched
	// UnmappedAt is the index in the message's Params of each Unmapped
	// name, for callers that look at their values.
	UnmappedAt []int
	Mapped     int       // parameters a rule matched, drop rules included
	Skipped    []Skipped // values a rule matched but could not use
	Dropped    int       // parameters dropped by a drop rule

	// Hits counts the parameters each rule matched, by rule index, over
	// every Apply since the caller last cleared it (Apply only adds): the
	// rule statistics of a whole batch without a pass of their own.
	Hits []int

	// NoPoints, set by the caller, skips everything InfluxDB would get:
	// with no InfluxDB output there is no point in making Points.
	NoPoints bool

	paramTags []paramTag
	devices   map[string]*deviceStrings // by ident; see device
	last      int                       // index in Points of the last field's point
	timeNanos int64                     // Time in Unix nanoseconds

	// For each parameter of the message its target; where the ident, each
	// [mapping].time source and each message tag are (-1: not there). They
	// are of the message Seq, and still good for the next one when it has
	// the same keys (resolved says they are of the current owner).
	targets       []*target
	seq           uint32
	resolved      bool
	identAt       int
	timeAt, tagAt []int

	// byID caches the targets of the parameter names of one decoder
	// (names), by Param.ID, for one Mapping (owner).
	byID    []*target
	names   uint64
	owner   *Mapping
	repeats bool // the message may repeat a parameter name
}

// Point is one InfluxDB point.
type Point struct {
	Measurement string
	Tags        []Tag // sorted by key
	Fields      []Field
	Time        time.Time

	extra []Tag // the rule tags that set this point apart
	// search is set once a field may share its key with another: then each
	// new field looks for an old one of its key to replace.
	search bool
}

// Tag is an InfluxDB tag.
type Tag struct{ Key, Value string }

// Field is an InfluxDB field.
type Field struct {
	Key   string
	Value Value

	escaped string // ",key=": Key escaped for line protocol, when known ahead
}

// Value is a typed field value; Type says which member holds it.
type Value struct {
	Type  Type // TypeJSON values are strings
	Bool  bool // next to Type: the struct is copied for every field, so no padding
	Float float64
	Int   int64
	// Str is the text of a string or JSON value. It points into the
	// message, like Param.Raw, and is valid as long as the message is:
	// copy it (strings.Clone) to keep it.
	Str string

	// decimal is a float or integer as the message wrote it, when that is
	// the value exactly as line protocol writes it (no scale, no offset, no
	// exponent): line protocol takes it as it is, which saves formatting
	// the number again. It points into the message, like Param.Raw, and is
	// only read while the Result is.
	decimal string
}

// Sample is the value of one gauge series. Its labels are the message's
// Tags (as labels: ident, and the [mapping].tags) and Labels, the rule's own.
type Sample struct {
	*Gauge // which series of the device; shared, never modify
	Value  float64
	// Time is the message time in Unix nanoseconds, to order late
	// messages (an int64: samples are copied by the thousand).
	Time int64
}

// Gauge is what the samples of one series share: a rule and parameter name
// make one Gauge, built once and pointed to by every sample, so that a
// sample is small to copy and two samples of one series are recognised by
// the pointer.
type Gauge struct {
	Name   string
	Help   string
	Labels []Label       // the rule's labels, sorted by name
	TTL    time.Duration // expiry without updates; 0 means never
}

// Label is a Prometheus label.
type Label struct{ Name, Value string }

// Skipped is a parameter value that was not used, and why.
type Skipped struct {
	Param  string
	Reason string
}

type paramTag struct {
	measurement string
	tag         Tag
}

// Apply maps one message into r. received is the time the message arrived,
// used when [mapping].time says "received". It returns ErrNoIdent or ErrNoTime
// for a message that cannot be stored at all; a parameter that cannot be used
// only lands in r.Skipped.
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
	dev := r.device(p.Raw)
	r.Ident = dev.ident
	var ok bool
	if r.Time, ok = m.messageTime(msg, received, r); !ok {
		return ErrNoTime
	}
	r.timeNanos = r.Time.UnixNano()
	m.baseTags(msg, r, dev)
	for i := range msg.Params {
		m.applyParam(msg, i, r.targets[i], r)
	}
	r.finishPoints()
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
	r.Ident, r.Time = "", time.Time{}
	r.Points = r.Points[:0]
	r.Samples = r.Samples[:0]
	r.Unmapped, r.UnmappedAt = r.Unmapped[:0], r.UnmappedAt[:0]
	r.Mapped = 0
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
		if i := r.timeAt[k]; i >= 0 {
			if p := &msg.Params[i]; p.Kind == message.Number || p.Kind == message.String {
				if t, ok := message.ParseTime(p.Raw); ok {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
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
		f.Key, f.escaped = t.field, t.fieldLP
	case !ru.influx || r.NoPoints:
	case ru.tag != "":
		if s := v.text(); s != "" {
			r.paramTags = append(r.paramTags, paramTag{ru.measurement, Tag{ru.tag, s}})
		}
	case t.conflict:
		r.Skipped = append(r.Skipped, Skipped{p.Name, SkipFieldConflict})
	}
	if t.gauge != nil {
		r.Samples = append(r.Samples, Sample{Gauge: t.gauge, Value: v.gaugeValue() * ru.unit.factor, Time: r.timeNanos})
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
		fd.Key, fd.Value, fd.escaped = p.Name, Value{Type: TypeFloat, Float: f}, ""
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
		if unsafe.StringData(p.Measurement) == unsafe.StringData(measurement) && len(p.Measurement) == len(measurement) &&
			len(p.extra) == len(extra) && (len(extra) == 0 || &p.extra[0] == &extra[0]) {
			return p
		}
	}
	for i := range r.Points {
		p := &r.Points[i]
		if p.Measurement == measurement && sameTags(p.extra, extra) {
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

func sameTags(a, b []Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sortTags is an insertion sort: tag lists are a handful long.
func sortTags(t []Tag) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Key < t[j-1].Key; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}

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
	fieldLP  string // ",field=", the field escaped for line protocol
	ownName  bool   // field is the parameter's name
	conflict bool   // the field name has another type elsewhere
	tags     []Tag
	gauge    *Gauge // nil for none
}

// resolve returns the target of a parameter name, from the cache when it
// can. Misses are cached too: most names a stream sends are unmapped.
func (m *Mapping) resolve(name string) *target {
	if v, ok := m.cache.Load(name); ok {
		return v.(*target)
	}
	t := m.lookup(name)
	if m.cached.Load() < maxCached {
		if _, loaded := m.cache.LoadOrStore(name, t); !loaded {
			m.cached.Add(1)
		}
	}
	return t
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
			t.fieldLP = "," + string(appendName(nil, t.field, &keyEscapes)) + "="
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
			t.gauge = g
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

// coerce turns a parameter value into a value of the rule's type, in v
// (a pointer: the Value is copied once, into its field), or returns why not.
func (ru *rule) coerce(p *message.Param, v *Value) string {
	switch p.Kind {
	case message.Null:
		return SkipNull
	case message.Array, message.Object:
		if ru.typ != TypeJSON {
			return SkipUnsupported
		}
	}
	switch ru.typ {
	case TypeString, TypeJSON:
		*v = Value{Type: ru.typ, Str: view(p.Raw)}
		return ""
	case TypeBoolean:
		return ru.boolean(p, v)
	case TypeInteger:
		return ru.integer(p, v)
	}
	if ru.scale == 1 && ru.offset == 0 {
		if f, ok := p.ShortDecimal(); ok {
			// The text is the value: no need to format the float again.
			*v = Value{Type: TypeFloat, Float: f, decimal: view(p.Raw)}
			return ""
		}
	}
	f, reason := ru.number(p)
	if reason != "" {
		return reason
	}
	*v = Value{Type: TypeFloat, Float: f}
	if p.Kind == message.Number && ru.scale == 1 && ru.offset == 0 && !hasExponent(p.Raw) {
		// A longer decimal, like a timestamp with microseconds: InfluxDB
		// reads the text as the same float.
		v.decimal = view(p.Raw)
	}
	return ""
}

// hasExponent reports whether a JSON number is written with an exponent.
func hasExponent(b []byte) bool {
	for _, c := range b {
		if c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// view is b as a string without a copy, for values that live no longer
// than the message they point into.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (ru *rule) boolean(p *message.Param, v *Value) string {
	switch p.Kind {
	case message.Bool:
		*v = Value{Type: TypeBoolean, Bool: p.Bool()}
		return ""
	case message.Number:
		f, ok := p.Float()
		if !ok {
			return SkipUncoercible
		}
		*v = Value{Type: TypeBoolean, Bool: f != 0}
		return ""
	}
	switch strings.ToLower(string(p.Raw)) {
	case "true", "1", "on", "yes":
		*v = Value{Type: TypeBoolean, Bool: true}
		return ""
	case "false", "0", "off", "no":
		*v = Value{Type: TypeBoolean}
		return ""
	}
	return SkipUncoercible
}

func (ru *rule) integer(p *message.Param, v *Value) string {
	if p.Kind == message.Number && ru.scale == 1 && ru.offset == 0 {
		// Exact for integers past 2^53, which a float64 would round.
		if i, ok := parseInt(p.Raw); ok {
			*v = Value{Type: TypeInteger, Int: i}
			if i != 0 || len(p.Raw) == 1 { // JSON has no leading zeros; "-0" is 0
				v.decimal = view(p.Raw) // the digits as line protocol writes them
			}
			return ""
		}
	}
	f, reason := ru.number(p)
	if reason != "" {
		return reason
	}
	if f != float64(int64(f)) || f < -9.2e18 || f > 9.2e18 {
		return SkipNotInteger
	}
	*v = Value{Type: TypeInteger, Int: int64(f)}
	return ""
}

// number returns the scaled numeric value of a parameter.
func (ru *rule) number(p *message.Param) (float64, string) {
	var f float64
	switch p.Kind {
	case message.Number:
		var ok bool
		if f, ok = p.Float(); !ok {
			return 0, SkipNotFinite
		}
	case message.Bool:
		if p.Bool() {
			f = 1
		}
	case message.String:
		var reason string
		if f, reason = ru.stringNumber(p.Raw); reason != "" {
			return 0, reason
		}
	}
	f = f*ru.scale + ru.offset
	if f-f != 0 { // NaN or ±Inf: line protocol and most readers reject them
		return 0, SkipNotFinite
	}
	return f, ""
}

// stringNumber reads a string value through the enum table, as a decimal,
// or as the enum default, in that order.
func (ru *rule) stringNumber(raw []byte) (float64, string) {
	if v, ok := ru.enum[string(raw)]; ok {
		return v, ""
	}
	p := message.Param{Kind: message.Number, Raw: []byte(strings.TrimSpace(string(raw)))}
	if f, ok := p.Float(); ok {
		return f, ""
	}
	if ru.enumDefault != nil {
		return *ru.enumDefault, ""
	}
	return 0, SkipUncoercible
}

func parseInt(raw []byte) (int64, bool) {
	if len(raw) == 0 || len(raw) > 19 {
		return 0, false
	}
	neg := raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	var n int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n < 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, len(raw) > 0
}

// text is the value as a tag value.
func (v *Value) text() string {
	switch v.Type {
	case TypeFloat:
		return formatFloat(v.Float)
	case TypeInteger:
		return formatInt(v.Int)
	case TypeBoolean:
		if v.Bool {
			return "true"
		}
		return "false"
	}
	return v.Str
}

// gaugeValue is the value as a gauge value; booleans are 0 and 1.
func (v *Value) gaugeValue() float64 {
	switch v.Type {
	case TypeInteger:
		return float64(v.Int)
	case TypeBoolean:
		if v.Bool {
			return 1
		}
		return 0
	}
	return v.Float
}
