package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

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

// maxCachedBytes bounds the same cache in bytes: names a stream invents can
// be long, and the gauge names and labels their targets hold with them.
const maxCachedBytes = 32 << 20

// Mapping is a compiled, immutable rule set. It is safe for concurrent use.
type Mapping struct {
	cfg          Config
	rules        []*rule
	alerts       []Alert // the rules' [[rule.alert]] entries
	msgTags      []msgTag
	raw          bool
	staticFields map[string]Type // measurement+"\x00"+field → type, of fields with fixed names
	warnings     []*ConfigError
	devices      deviceGauges

	cache       sync.Map // parameter name → *target; misses are cached too
	cached      atomic.Int64
	cachedBytes atomic.Int64
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
	c.m.devices = newDeviceGauges(c.m.cfg)
	for i := range rules {
		if r := c.rule(i, rules[i]); r != nil {
			c.m.rules = append(c.m.rules, r)
		}
	}
	if len(c.errs) == 0 {
		c.crossCheck()
	} else {
		// The alerts are checked too, so that one run says every problem;
		// which rule takes an alert's parameters is not known while a rule
		// is wrong, so that is left for the run after.
		c.partial = true
	}
	c.alerts(rules)
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
	m       *Mapping
	errs    []*ConfigError
	partial bool // a rule is wrong: alerts are checked for themselves only
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
	if !cfg.MaxFuture.IsSet() {
		cfg.MaxFuture = DefaultConfig().MaxFuture
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
