package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// Type is the declared type of a rule's values.
type Type uint8

// The value types a rule can declare.
const (
	TypeFloat Type = iota
	TypeInteger
	TypeBoolean
	TypeString
	TypeJSON
)

var typeNames = map[string]Type{
	"float": TypeFloat, "integer": TypeInteger, "boolean": TypeBoolean,
	"string": TypeString, "json": TypeJSON,
}

func (t Type) String() string {
	for n, v := range typeNames {
		if v == t {
			return n
		}
	}
	return "unknown"
}

// numeric reports whether values of the type can be gauge values.
func (t Type) numeric() bool { return t <= TypeBoolean }

// ConfigError is a problem with one key of the configuration: an error from
// Compile, or a warning. Rule is the index of the [[rule]] (from 0), or -1 for
// the [mapping] section; Key is the key at fault ("regex", "labels.sensor").
// The config package turns Rule and Key into a file and line.
type ConfigError struct {
	Rule int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Rule < 0 {
		return fmt.Sprintf("[mapping] %s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("[[rule]] #%d %s: %s", e.Rule+1, e.Key, e.Msg)
}

// maxMessageTags bounds [mapping].tags: every tag multiplies the series of
// every gauge and InfluxDB measurement.
const maxMessageTags = 8

// maxCached bounds the per-name cache of rule lookups. A stream that invents
// parameter names without end still works past it, only slower.
const maxCached = 1 << 17

// Mapping is a compiled, immutable rule set. It is safe for concurrent use.
type Mapping struct {
	cfg          Config
	rules        []*rule
	msgTags      []msgTag
	raw          bool
	staticFields map[string]Type // measurement+"\x00"+field → type, of fields with fixed names
	warnings     []*ConfigError

	cache  sync.Map // parameter name → *target; misses are cached too
	cached atomic.Int64
}

// msgTag is a message parameter that becomes a tag and label.
type msgTag struct {
	param string
	key   string
}

// Compile checks cfg and rules and compiles them. All problems found are
// returned together, as an errors.Join of *ConfigError.
func Compile(cfg Config, rules []Rule) (*Mapping, error) {
	c := &compiler{m: &Mapping{cfg: cfg, staticFields: map[string]Type{}}}
	c.section()
	for i := range rules {
		if r := c.rule(i, rules[i]); r != nil {
			c.m.rules = append(c.m.rules, r)
		}
	}
	if len(c.errs) == 0 {
		c.crossCheck()
	}
	if len(c.errs) > 0 {
		errs := make([]error, len(c.errs))
		for i, e := range c.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return c.m, nil
}

// Warnings returns the problems that do not stop the rules from working,
// such as a rule that an earlier one shadows.
func (m *Mapping) Warnings() []*ConfigError { return m.warnings }

// Config returns the [mapping] section the Mapping was compiled from.
func (m *Mapping) Config() Config { return m.cfg }

// NumRules is the number of rules; rule indexes (Result.Hits) are below it.
func (m *Mapping) NumRules() int { return len(m.rules) }

// Rules returns a description of every compiled rule, in file order.
func (m *Mapping) Rules() []RuleInfo {
	out := make([]RuleInfo, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.info()
	}
	return out
}

type compiler struct {
	m    *Mapping
	errs []*ConfigError
}

func (c *compiler) errorf(rule int, key, format string, args ...any) {
	c.errs = append(c.errs, &ConfigError{Rule: rule, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) warnf(rule int, key, format string, args ...any) {
	c.m.warnings = append(c.m.warnings, &ConfigError{Rule: rule, Key: key, Msg: fmt.Sprintf(format, args...)})
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	invalidName  = regexp.MustCompile(`[^a-zA-Z0-9_:]`)
)

// highCardinality names message parameters that take a new value with
// almost every message: as tags they would make a series per message.
var highCardinality = []string{
	"timestamp", "server.timestamp", "timestamp.key", "peer", "position.*",
	"*.seqnum", "*.mileage", "*.timestamp", "gisgraphy.*",
}

func (c *compiler) section() {
	cfg := &c.m.cfg
	if cfg.Measurement == "" {
		c.errorf(-1, "measurement", "must not be empty")
	}
	if !metricNameRE.MatchString(cfg.Namespace) {
		c.errorf(-1, "namespace", "%q is not a valid Prometheus metric name prefix (letters, digits, '_')", cfg.Namespace)
	}
	switch cfg.Unmatched {
	case UnmatchedDrop, UnmatchedRaw:
	default:
		c.errorf(-1, "unmatched", "want \"drop\" or \"raw\", got %q", cfg.Unmatched)
	}
	c.m.raw = cfg.Unmatched == UnmatchedRaw
	if len(cfg.Time) == 0 {
		c.errorf(-1, "time", "must name at least one source, e.g. [\"timestamp\", \"received\"]")
	}
	for i, t := range cfg.Time {
		if t == TimeReceived && i != len(cfg.Time)-1 {
			c.errorf(-1, "time", "%q must be the last source: it is always there, so sources after it are never used", TimeReceived)
		}
	}
	if !cfg.GaugeTTL.IsSet() {
		cfg.GaugeTTL = DefaultConfig().GaugeTTL
	}
	c.messageTags()
}

func (c *compiler) messageTags() {
	cfg := &c.m.cfg
	if len(cfg.Tags) > maxMessageTags {
		c.errorf(-1, "tags", "%d tags given, at most %d allowed: every tag multiplies the number of series", len(cfg.Tags), maxMessageTags)
		return
	}
	seen := map[string]string{"ident": "ident"}
	for _, p := range cfg.Tags {
		p = message.NormalizeName(p)
		key := strings.ReplaceAll(p, ".", "_")
		switch {
		case p == "ident":
			c.errorf(-1, "tags", "ident is always a tag; list only other parameters")
			continue
		case !labelNameRE.MatchString(key) || strings.HasPrefix(key, "_"):
			c.errorf(-1, "tags", "%q cannot be a tag: its tag and label name %q must be letters, digits and '_' and not start with '_'", p, key)
			continue
		case seen[key] != "":
			c.errorf(-1, "tags", "%q and %q both become the tag %q", seen[key], p, key)
			continue
		}
		seen[key] = p
		for _, hc := range highCardinality {
			if globMatches(hc, p) {
				c.warnf(-1, "tags", "%q changes with almost every message: as a tag it makes a new series each time; keep it a field", p)
				break
			}
		}
		c.m.msgTags = append(c.m.msgTags, msgTag{param: p, key: key})
	}
}

// globMatches reports whether name matches a simple glob of highCardinality.
func globMatches(glob, name string) bool {
	re, err := compileGlob(glob)
	return err == nil && re.MatchString(name)
}

// rule checks and compiles one [[rule]].
func (c *compiler) rule(i int, cfg Rule) *rule {
	n := len(c.errs)
	r := &rule{index: i, cfg: cfg}
	c.pattern(r)
	if r.re == nil {
		return nil
	}
	if cfg.Drop {
		c.dropOnly(r)
	} else {
		c.values(r)
		c.targets(r)
	}
	if len(c.errs) > n {
		return nil
	}
	c.shadowed(r)
	return r
}

func (c *compiler) pattern(r *rule) {
	cfg := &r.cfg
	var err error
	switch {
	case cfg.Match != "" && cfg.Regex != "":
		c.errorf(r.index, "match", "give either match or regex, not both")
	case cfg.Match != "":
		r.pattern = message.NormalizeName(cfg.Match)
		if strings.HasPrefix(r.pattern, ".") || strings.HasSuffix(r.pattern, ".") || strings.Contains(r.pattern, "..") {
			c.errorf(r.index, "match", "%q has an empty segment (two dots, or a dot at an end)", r.pattern)
			return
		}
		if strings.Contains(r.pattern, "*") {
			r.glob = true
			r.re, err = compileGlob(r.pattern)
			if err != nil {
				c.errorf(r.index, "match", "%v", err)
			}
		} else {
			r.re = regexp.MustCompile("^" + regexp.QuoteMeta(r.pattern) + "$")
		}
	case cfg.Regex != "":
		r.pattern = cfg.Regex
		r.re, err = regexp.Compile("^(?:" + cfg.Regex + ")$")
		if err != nil {
			c.errorf(r.index, "regex", "'%s' is not a valid regular expression: %v", cfg.Regex, unwrapRegexpError(err))
		}
	default:
		c.errorf(r.index, "match", "every rule needs match (a name or glob) or regex")
	}
}

func unwrapRegexpError(err error) string {
	var re *syntax.Error
	if errors.As(err, &re) {
		return re.Code.String()
	}
	return err.Error()
}

// compileGlob turns a glob into an anchored regexp with one capture per
// wildcard: '*' alone is one segment, '*' in a segment is part of one, '**'
// is one or more whole segments.
func compileGlob(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i, seg := range strings.Split(glob, ".") {
		if i > 0 {
			b.WriteString(`\.`)
		}
		switch {
		case seg == "":
			return nil, fmt.Errorf("%q has an empty segment (two dots, or a dot at an end)", glob)
		case seg == "**":
			b.WriteString(`([^.]+(?:\.[^.]+)*)`)
		case strings.Contains(seg, "**"):
			return nil, fmt.Errorf("glob %q: '**' must be a whole segment, like a.**.b", glob)
		case seg == "*":
			b.WriteString(`([^.]+)`)
		default:
			parts := strings.Split(seg, "*")
			for j, p := range parts {
				if j > 0 {
					b.WriteString(`([^.]*)`)
				}
				b.WriteString(regexp.QuoteMeta(p))
			}
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// dropOnly rejects output keys on a drop rule: they would do nothing, and
// that is a sign the user meant something else.
func (c *compiler) dropOnly(r *rule) {
	cfg := &r.cfg
	used := []struct {
		key string
		set bool
	}{
		{"type", cfg.Type != ""}, {"unit", cfg.Unit != ""}, {"scale", cfg.Scale != nil},
		{"offset", cfg.Offset != 0}, {"enum", cfg.Enum != nil}, {"enum_default", cfg.EnumDefault != nil},
		{"influx", cfg.Influx != nil}, {"field", cfg.Field != ""}, {"measurement", cfg.Measurement != ""},
		{"tag", cfg.Tag != ""}, {"tags", cfg.Tags != nil}, {"prometheus", cfg.Prometheus != nil},
		{"gauge", cfg.Gauge != ""}, {"help", cfg.Help != ""}, {"labels", cfg.Labels != nil}, {"ttl", cfg.TTL.IsSet()},
	}
	for _, u := range used {
		if u.set {
			c.errorf(r.index, u.key, "a rule with drop = true produces nothing, so %s has no effect; remove it or drop = true", u.key)
		}
	}
	r.drop = true
}

// values checks type, unit, scale, offset and enum.
func (c *compiler) values(r *rule) {
	cfg := &r.cfg
	r.typ = TypeFloat
	if cfg.Type != "" {
		t, ok := typeNames[cfg.Type]
		if !ok {
			c.errorf(r.index, "type", "want one of float, integer, boolean, string, json; got %q", cfg.Type)
			return
		}
		r.typ = t
	}
	r.scale = 1
	if cfg.Scale != nil {
		r.scale = *cfg.Scale
		if r.scale == 0 {
			c.errorf(r.index, "scale", "0 would turn every value into the offset")
		}
	}
	r.offset = cfg.Offset
	switch {
	case !r.typ.numeric() || r.typ == TypeBoolean:
		for _, k := range []struct {
			key string
			set bool
		}{{"scale", cfg.Scale != nil}, {"offset", cfg.Offset != 0}, {"enum", cfg.Enum != nil}, {"enum_default", cfg.EnumDefault != nil}, {"unit", cfg.Unit != ""}} {
			if k.set {
				c.errorf(r.index, k.key, "applies to numbers; this rule's type is %s", r.typ)
			}
		}
	case r.typ == TypeInteger:
		if r.scale != float64(int64(r.scale)) || r.offset != float64(int64(r.offset)) {
			c.errorf(r.index, "scale", "an integer rule needs a whole scale and offset; use type = \"float\" for %v and %v", r.scale, r.offset)
		}
	}
	r.enum = cfg.Enum
	r.enumDefault = cfg.EnumDefault
	if cfg.EnumDefault != nil && cfg.Enum == nil {
		c.errorf(r.index, "enum_default", "is the value for strings missing from enum, and there is no enum table")
	}
	if cfg.Unit != "" {
		u, ok := units[cfg.Unit]
		if !ok {
			c.errorf(r.index, "unit", "unknown unit %q; known: %s (or leave unit out and name the gauge yourself)", cfg.Unit, knownUnits())
		}
		r.unit = u
	} else {
		r.unit = unit{factor: 1}
	}
}

// targets checks the InfluxDB and Prometheus outputs of a rule.
func (c *compiler) targets(r *rule) {
	cfg := &r.cfg
	r.influx = cfg.Influx == nil || *cfg.Influx
	r.prom = r.typ.numeric()
	if cfg.Prometheus != nil {
		if *cfg.Prometheus && !r.typ.numeric() {
			c.errorf(r.index, "prometheus", "a %s value cannot be a gauge; only float, integer and boolean can", r.typ)
		}
		r.prom = *cfg.Prometheus
	}
	if r.influx {
		c.influxTargets(r)
	} else {
		for _, k := range []struct {
			key string
			set bool
		}{{"field", cfg.Field != ""}, {"measurement", cfg.Measurement != ""}, {"tag", cfg.Tag != ""}, {"tags", cfg.Tags != nil}} {
			if k.set {
				c.errorf(r.index, k.key, "has no effect with influx = false")
			}
		}
	}
	if r.prom {
		c.gaugeTarget(r)
	} else {
		for _, k := range []struct {
			key string
			set bool
		}{{"gauge", cfg.Gauge != ""}, {"help", cfg.Help != ""}, {"labels", cfg.Labels != nil}, {"ttl", cfg.TTL.IsSet()}} {
			if k.set {
				c.errorf(r.index, k.key, "has no effect without a gauge (prometheus = false, or a %s value)", r.typ)
			}
		}
	}
	if !r.influx && !r.prom {
		c.warnf(r.index, "match", "the rule has no output (no InfluxDB field, no gauge); write drop = true if that is meant")
	}
}

func (c *compiler) influxTargets(r *rule) {
	cfg := &r.cfg
	r.measurement = cfg.Measurement
	if r.measurement == "" {
		r.measurement = c.m.cfg.Measurement
	}
	r.field = cfg.Field
	if r.field == "" {
		r.field = "$0"
	}
	if cfg.Tag != "" && cfg.Field != "" {
		c.errorf(r.index, "tag", "give either tag (store the value as a tag) or field, not both")
	}
	if c.template(r, "field", r.field) && r.field != "$0" && cfg.Tag == "" {
		c.checkKey(r.index, "field", r.field)
	}
	if cfg.Tag != "" {
		r.tag = cfg.Tag
		c.checkKey(r.index, "tag", r.tag)
		if strings.Contains(r.tag, "$") {
			c.errorf(r.index, "tag", "a tag name cannot be a template; name it, like tag = \"driver\"")
		}
		if r.typ == TypeFloat {
			c.warnf(r.index, "tag", "a float value as a tag makes a new series for every distinct value; use type = \"string\" or \"integer\" for codes and names, or keep it a field")
		}
	}
	r.tags = c.pairs(r, "tags", cfg.Tags, false)
}

// checkKey rejects InfluxDB names that InfluxQL or Flux reserve.
func (c *compiler) checkKey(rule int, key, name string) {
	if name == "time" || strings.HasPrefix(name, "_") {
		c.errorf(rule, key, "%q is reserved by InfluxDB (time, and names starting with '_'); pick another name", name)
	}
}

func (c *compiler) gaugeTarget(r *rule) {
	cfg := &r.cfg
	r.help = cfg.Help
	if r.help == "" {
		r.help = fmt.Sprintf("flespi parameter %s", r.pattern)
		if cfg.Unit != "" {
			r.help += " (" + cfg.Unit + " in flespi)"
		}
	}
	r.labels = c.pairs(r, "labels", cfg.Labels, true)
	r.ttl = cfg.TTL
	if !r.ttl.IsSet() {
		r.ttl = c.m.cfg.GaugeTTL
	}
	gauge := cfg.Gauge
	switch {
	case gauge != "":
		if !c.template(r, "gauge", gauge) {
			return
		}
		if strings.HasPrefix(gauge, c.m.cfg.Namespace+"_") {
			c.warnf(r.index, "gauge", "the namespace %q is added to gauge names already; this gauge will be %s_%s", c.m.cfg.Namespace, c.m.cfg.Namespace, gauge)
		}
		if static := refRE.ReplaceAllString(gauge, "x"); !metricNameRE.MatchString(static) {
			c.errorf(r.index, "gauge", "%q is not a valid Prometheus metric name: use letters, digits and '_' (like %s)", gauge, invalidName.ReplaceAllString(static, "_"))
			return
		}
	case r.glob && len(cfg.Labels) > 0:
		// The captures are labels, so the wildcards leave the name.
		gauge = globStem(r.pattern)
	case !r.glob && cfg.Regex != "" && len(cfg.Labels) > 0:
		c.errorf(r.index, "gauge", "a regex rule with labels must name its gauge (gauge = \"...\")")
		return
	case !r.glob && r.cfg.Regex == "":
		gauge = invalidName.ReplaceAllString(r.pattern, "_")
	default:
		gauge = "$0" // named after each matching parameter
	}
	r.gauge = c.m.cfg.Namespace + "_" + gauge
}

// globStem is a glob without its wildcards: "ble.sensor.temperature.*"
// gives "ble_sensor_temperature".
func globStem(glob string) string {
	var parts []string
	for _, seg := range strings.Split(glob, ".") {
		if seg = strings.ReplaceAll(seg, "*", ""); seg != "" {
			parts = append(parts, seg)
		}
	}
	return invalidName.ReplaceAllString(strings.Join(parts, "_"), "_")
}

// pairs checks a tags or labels table and returns it sorted by key.
func (c *compiler) pairs(r *rule, key string, m map[string]string, label bool) []pair {
	out := make([]pair, 0, len(m))
	for k, v := range m {
		switch {
		case k == "ident" || c.isMessageTag(k):
			c.errorf(r.index, key+"."+k, "%q is already set from the message", k)
		case label && (!labelNameRE.MatchString(k) || strings.HasPrefix(k, "__")):
			c.errorf(r.index, key+"."+k, "%q is not a valid Prometheus label name (letters, digits, '_'; not starting with \"__\")", k)
		case !label:
			c.checkKey(r.index, key+"."+k, k)
		}
		if v == "" {
			c.errorf(r.index, key+"."+k, "empty value: InfluxDB and Prometheus drop empty tags and labels")
		}
		c.template(r, key+"."+k, v)
		out = append(out, pair{key: k, tmpl: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func (c *compiler) isMessageTag(key string) bool {
	for _, t := range c.m.msgTags {
		if t.key == key {
			return true
		}
	}
	return false
}

// refRE finds template references: $1, ${1}, $name, ${name}.
var refRE = regexp.MustCompile(`\$(\{[^}]*\}|[a-zA-Z0-9_]+)`)

// template checks that every reference in tmpl names a capture of the
// rule's pattern. It reports whether tmpl is usable.
func (c *compiler) template(r *rule, key, tmpl string) bool {
	ok := true
	names := r.re.SubexpNames()
	for _, m := range refRE.FindAllStringSubmatch(strings.ReplaceAll(tmpl, "$$", ""), -1) {
		ref := strings.Trim(m[1], "{}")
		if isDigits(ref) {
			if idx, err := strconv.Atoi(ref); err != nil || idx > r.re.NumSubexp() {
				c.errorf(r.index, key, "%q refers to $%s, but the pattern %q has %d capture(s)", tmpl, ref, r.pattern, r.re.NumSubexp())
				ok = false
			}
			continue
		}
		found := false
		for _, n := range names {
			found = found || (n != "" && n == ref)
		}
		if !found {
			c.errorf(r.index, key, "%q refers to ${%s}, but the pattern %q has no capture of that name (write ${1} before letters: $1x means ${1x})", tmpl, ref, r.pattern)
			ok = false
		}
	}
	return ok
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// shadowed warns when an earlier rule matches every name r matches.
func (c *compiler) shadowed(r *rule) {
	var sample string
	switch {
	case r.cfg.Regex != "":
		return // no general way to tell; regex rules are the user's to order
	case r.glob:
		sample = strings.ReplaceAll(r.pattern, "*", "\x00")
	default:
		sample = r.pattern
	}
	for _, e := range c.m.rules {
		if e.re.MatchString(sample) {
			c.warnf(r.index, r.key(), "never matches: rule #%d (%s) above it matches every name this one does; the first match wins", e.index+1, e.describe())
			return
		}
	}
}

// crossCheck looks for conflicts between rules: one gauge with two label
// sets, a name that is both a tag and a field, a field with two types.
func (c *compiler) crossCheck() {
	type gaugeUse struct {
		labels string
		rule   *rule
	}
	gauges := map[string]gaugeUse{}
	tagKeys := map[string]int{} // measurement+"\x00"+tag → rule index (-1: message tag)
	for _, r := range c.m.rules {
		if r.drop || !r.influx {
			continue
		}
		tagKeys[r.measurement+"\x00ident"] = -1
		for _, t := range c.m.msgTags {
			tagKeys[r.measurement+"\x00"+t.key] = -1
		}
		if r.tag != "" {
			tagKeys[r.measurement+"\x00"+r.tag] = r.index
		}
		for _, p := range r.tags {
			tagKeys[r.measurement+"\x00"+p.key] = r.index
		}
	}
	fieldRules := map[string]*rule{}
	for _, r := range c.m.rules {
		if r.drop {
			continue
		}
		if r.influx && r.tag == "" {
			if name, static := r.staticField(); static {
				key := r.measurement + "\x00" + name
				if other, ok := fieldRules[key]; ok && other.typ != r.typ {
					c.errorf(r.index, "field", "field %q of measurement %q is a %s here but a %s in rule #%d (%s): InfluxDB keeps one type per field", name, r.measurement, r.typ, other.typ, other.index+1, other.describe())
				}
				if idx, ok := tagKeys[key]; ok {
					c.errorf(r.index, "field", "%q is also a tag of measurement %q (%s); a name must be a tag or a field, not both", name, r.measurement, tagOrigin(idx))
				}
				fieldRules[key] = r
				c.m.staticFields[key] = r.typ
			}
		}
		if r.prom && !strings.Contains(r.gauge, "$") {
			name := withSuffix(r.gauge, r.unit.suffix)
			labels := c.labelSet(r)
			if g, ok := gauges[name]; ok && g.labels != labels {
				c.errorf(r.index, "labels", "gauge %s gets labels {%s} here but {%s} from rule #%d (%s); one gauge must always have the same labels", name, labels, g.labels, g.rule.index+1, g.rule.describe())
			}
			gauges[name] = gaugeUse{labels, r}
		}
	}
}

func tagOrigin(idx int) string {
	if idx < 0 {
		return "ident and [mapping].tags are tags of every point"
	}
	return fmt.Sprintf("made a tag by rule #%d", idx+1)
}

func (c *compiler) labelSet(r *rule) string {
	keys := []string{"ident"}
	for _, t := range c.m.msgTags {
		keys = append(keys, t.key)
	}
	for _, p := range r.labels {
		keys = append(keys, p.key)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// pair is a tag or label whose value is a template.
type pair struct {
	key, tmpl string
}

// rule is one compiled [[rule]].
type rule struct {
	// What mapping a parameter reads, first and together: a rule is
	// hundreds of bytes, and these fields spread over its length made
	// every mapped parameter load five of its cache lines instead of two.
	index       int
	drop        bool
	typ         Type
	influx      bool
	prom        bool
	scale       float64
	offset      float64
	unit        unit
	measurement string
	tag         string

	enum        map[string]float64
	enumDefault *float64

	cfg     Rule
	pattern string // Match (normalized) or Regex
	glob    bool
	re      *regexp.Regexp

	field string // template
	tags  []pair

	gauge  string // namespace_template, before the unit suffix
	help   string
	labels []pair
	ttl    TTL
}

func (r *rule) key() string {
	if r.cfg.Regex != "" {
		return "regex"
	}
	return "match"
}

// describe writes the rule's pattern as in the file; regexes in single
// quotes, as TOML literal strings, so that backslashes read as written.
func (r *rule) describe() string {
	if r.cfg.Regex != "" {
		return fmt.Sprintf("regex = '%s'", r.pattern)
	}
	return fmt.Sprintf("match = %q", r.pattern)
}

// staticField returns the field name when it does not depend on the
// parameter name.
func (r *rule) staticField() (string, bool) {
	if r.field == "$0" && !r.glob && r.cfg.Regex == "" {
		return r.pattern, true
	}
	if strings.Contains(r.field, "$") {
		return "", false
	}
	return r.field, true
}

// RuleInfo describes a compiled rule, for summaries (the check command) and
// generated dashboards.
type RuleInfo struct {
	Index       int
	Pattern     string // as in the file: match = "..." or regex = '...'
	Drop        bool
	Type        string
	Unit        string // as the rule names it; "" for none
	Help        string
	Measurement string // "" without InfluxDB output
	Field       string // template; "" when the value is a tag
	Tag         string
	// FieldRegex matches every field name the rule can write (a Go and
	// InfluxQL regular expression, anchored); "" without fields.
	FieldRegex string
	// FieldName is the one field name the rule writes, when there is one.
	FieldName string
	Gauge     string // "" without a gauge; may hold $ templates
	// GaugeRegex matches every gauge name the rule can make (anchored).
	GaugeRegex string
	TTL        TTL
	// Example is a parameter name the rule matches ("" for regex rules).
	Example string
}

func (r *rule) info() RuleInfo {
	in := RuleInfo{Index: r.index, Pattern: r.describe(), Drop: r.drop, Example: r.example()}
	if r.drop {
		return in
	}
	in.Type, in.Unit, in.Help = r.typ.String(), r.cfg.Unit, r.help
	if r.influx {
		in.Measurement, in.Field, in.Tag = r.measurement, r.field, r.tag
		if r.tag != "" {
			in.Field = ""
		} else {
			in.FieldName, _ = r.staticField()
			in.FieldRegex = r.templateRegex(r.field)
		}
	}
	if r.prom {
		in.Gauge = withSuffix(r.gauge, r.unit.suffix)
		if strings.Contains(r.gauge, "$") {
			re := strings.TrimSuffix(r.templateRegex(r.gauge), "$")
			if r.unit.suffix != "" {
				re += "(_" + r.unit.suffix + ")?" // added unless the name ends with it
			}
			in.GaugeRegex = re + "$"
		} else {
			in.GaugeRegex = "^" + regexp.QuoteMeta(in.Gauge) + "$"
		}
		in.TTL = r.ttl
	}
	return in
}

// templateRegex is an anchored regexp of what a template can expand to: $0
// is any name the rule matches, other references any text.
func (r *rule) templateRegex(tmpl string) string {
	if tmpl == "$0" || tmpl == "${0}" {
		return r.re.String()
	}
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range refRE.FindAllStringIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:m[0]]))
		b.WriteString(".+")
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]))
	b.WriteString("$")
	return b.String()
}

// example makes a name the rule matches from its glob.
func (r *rule) example() string {
	if r.cfg.Regex != "" {
		return ""
	}
	parts := strings.Split(r.pattern, ".")
	for i, p := range parts {
		switch {
		case p == "**" || p == "*":
			parts[i] = "1"
		default:
			parts[i] = strings.ReplaceAll(p, "*", "x")
		}
	}
	return strings.Join(parts, ".")
}

// ttlOf returns the TTL of a gauge.
func (r *rule) ttlOf() time.Duration {
	if r.ttl.Never {
		return 0
	}
	return r.ttl.Duration
}
