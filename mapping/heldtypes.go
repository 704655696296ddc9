package mapping

import (
	"fmt"
	"regexp"
	"sort"
)

// influxType is the InfluxDB field type a rule's values are written as.
func (t Type) influxType() string {
	switch t {
	case TypeFloat:
		return "float"
	case TypeInteger:
		return "integer"
	case TypeBoolean:
		return "boolean"
	}
	return "string" // string and json
}

// Measurements returns the measurements the rules write to, sorted.
func (m *Mapping) Measurements() []string {
	set := map[string]bool{m.cfg.Measurement: true}
	for _, r := range m.rules {
		if !r.drop && r.influx {
			set[r.measurement] = true
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TypeConflicts compares the rules with the field types InfluxDB holds
// (measurement → field → type, as InfluxQL SHOW FIELD KEYS says): one
// warning for each rule that would write a field InfluxDB holds with
// another type, whose values InfluxDB would refuse. A rule whose field
// name is a template is compared with every field its names can be.
func (m *Mapping) TypeConflicts(held map[string]map[string]string) []*ConfigError {
	var out []*ConfigError
	for _, r := range m.rules {
		if r.drop || !r.influx || r.tag != "" {
			continue
		}
		fields := held[r.measurement]
		want := r.typ.influxType()
		if name, static := r.staticField(); static {
			if got, ok := fields[name]; ok && got != want && !(got == "unsigned" && want == "integer") {
				out = append(out, typeConflict(r, name, want, got))
			}
			continue
		}
		re, err := regexp.Compile(r.templateRegex(r.field))
		if err != nil {
			continue
		}
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if got := fields[name]; got != want && re.MatchString(name) && m.ownsField(r, name) {
				out = append(out, typeConflict(r, name, want, got))
			}
		}
	}
	return out
}

// ownsField reports whether r is the first rule whose field names can be
// name: a field a glob could write but an earlier exact rule does is that
// rule's.
func (m *Mapping) ownsField(r *rule, name string) bool {
	for _, e := range m.rules {
		if e == r {
			return true
		}
		if e.drop || !e.influx || e.tag != "" || e.measurement != r.measurement {
			continue
		}
		if f, static := e.staticField(); static && f == name {
			return false
		}
	}
	return true
}

func typeConflict(r *rule, field, want, got string) *ConfigError {
	return &ConfigError{Rule: r.index, Key: "type", Msg: fmt.Sprintf(
		"writes %s of measurement %q as %s, but InfluxDB holds it as %s: its values will be refused (and dead-lettered); give the rule a new field name, or type = %q",
		field, r.measurement, want, got, RuleType(got))}
}

// RuleType is the rule type that writes an InfluxDB field type.
func RuleType(influx string) string {
	if influx == "unsigned" {
		return "integer"
	}
	return influx
}
