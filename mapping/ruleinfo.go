package mapping

import (
	"regexp"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/message"
)

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
	// Title names the rule for people: its help when the rule gives one,
	// else its glob, else its regex written without regex syntax.
	Title string
	// Tags are the keys of the rule's own tags, sorted: the values a panel
	// of its fields is grouped by.
	Tags []string
	// States says the values are states rather than measures: booleans,
	// strings, enums (an enum table, or a name ending in .enum).
	States bool
}

func (r *rule) info() RuleInfo {
	in := RuleInfo{Index: r.index, Pattern: r.describe(), Drop: r.drop, Example: r.example()}
	if r.drop {
		return in
	}
	in.Type, in.Unit, in.Help = r.typ.String(), r.cfg.Unit, r.help
	in.Title = r.title()
	for _, p := range r.tags {
		in.Tags = append(in.Tags, p.key)
	}
	in.States = r.typ == TypeBoolean || r.typ == TypeString || r.typ == TypeJSON || r.enum != nil ||
		strings.HasSuffix(r.pattern, ".enum") || strings.HasSuffix(r.pattern, "enum)")
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

// regexSyntax is what title removes from a regex to leave its words.
var regexSyntax = strings.NewReplacer(`\.`, ".", `\`, "", "^", "", "$", "", "(?:", "", "(", "", ")", "", "?", "", "+", "", "*", "", "[", "", "]", "", "|", " or ")

// title is the rule's name for people: a panel title.
func (r *rule) title() string {
	switch {
	case r.cfg.Help != "":
		return headline(r.cfg.Help)
	case r.cfg.Regex == "":
		return r.pattern
	}
	return regexSyntax.Replace(r.pattern)
}

// headline is the first clause of a help text, without its period: a
// panel's title ("Vehicle (external) power voltage; 0 or a sharp drop
// means ..." is "Vehicle (external) power voltage"). The whole text stays
// the help and the panel's description.
func headline(help string) string {
	h := help
	for _, sep := range []string{"; ", ". ", ", in ", " (flespi sends"} {
		if i := strings.Index(h, sep); i > 0 {
			h = h[:i]
		}
	}
	return strings.TrimSuffix(strings.TrimSpace(h), ".")
}

// Own reports whether rule i is one of the operator's own rule files'.
func (m *Mapping) Own(i int) bool { return i >= 0 && i < len(m.rules) && m.rules[i].cfg.Own }

// AlertsOn returns the alerts that compare the gauge a parameter makes
// (through the rule that takes it).
func (m *Mapping) AlertsOn(name string) []Alert {
	t := m.lookup(message.NormalizeName(name))
	if t.gauge == nil {
		return nil
	}
	var out []Alert
	for _, a := range m.alerts {
		for _, g := range a.Gauges {
			if g == t.gauge.Name {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// Matching returns the indices of the rules that match a parameter name,
// in order: the first takes it, the others never get it.
func (m *Mapping) Matching(name string) []int {
	name = message.NormalizeName(name)
	var out []int
	for _, r := range m.rules {
		if r.re.MatchString(name) {
			out = append(out, r.index)
		}
	}
	return out
}
