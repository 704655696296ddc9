package mapping

import (
	"fmt"
	"sort"
	"strings"
)

// dropOnly rejects output keys on a drop rule: they would do nothing, and
// that is a sign the user meant something else.
func (c *compiler) dropOnly(r *rule) {
	cfg := &r.cfg
	c.rejectSet(r, []setKey{
		{"type", cfg.Type != ""}, {"unit", cfg.Unit != ""}, {"scale", cfg.Scale != nil},
		{"offset", cfg.Offset != 0}, {"enum", cfg.Enum != nil}, {"enum_default", cfg.EnumDefault != nil},
		{"influx", cfg.Influx != nil}, {"field", cfg.Field != ""}, {"measurement", cfg.Measurement != ""},
		{"tag", cfg.Tag != ""}, {"tags", cfg.Tags != nil}, {"prometheus", cfg.Prometheus != nil},
		{"gauge", cfg.Gauge != ""}, {"help", cfg.Help != ""}, {"labels", cfg.Labels != nil}, {"ttl", cfg.TTL.IsSet()},
	}, func(key string) string {
		return "a rule with drop = true produces nothing, so " + key + " has no effect; remove it or drop = true"
	})
	r.drop = true
}

// setKey is a key of a [[rule]] and whether the file sets it.
type setKey struct {
	key string
	set bool
}

// rejectSet reports an error, msg(key), for each key of keys that is set.
func (c *compiler) rejectSet(r *rule, keys []setKey, msg func(key string) string) {
	for _, k := range keys {
		if k.set {
			c.errs = append(c.errs, &ConfigError{Rule: r.index, Key: k.key, Msg: msg(k.key)})
		}
	}
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
		c.rejectSet(r, []setKey{{"scale", cfg.Scale != nil}, {"offset", cfg.Offset != 0}, {"enum", cfg.Enum != nil},
			{"enum_default", cfg.EnumDefault != nil}, {"unit", cfg.Unit != ""}},
			func(string) string { return "applies to numbers; this rule's type is " + r.typ.String() })
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
		r.unit = identity
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
		c.rejectSet(r, []setKey{{"field", cfg.Field != ""}, {"measurement", cfg.Measurement != ""}, {"tag", cfg.Tag != ""},
			{"tags", cfg.Tags != nil}}, func(string) string { return "has no effect with influx = false" })
	}
	if r.prom {
		c.gaugeTarget(r)
	} else {
		c.rejectSet(r, []setKey{{"gauge", cfg.Gauge != ""}, {"help", cfg.Help != ""}, {"labels", cfg.Labels != nil},
			{"ttl", cfg.TTL.IsSet()}}, func(string) string {
			return "has no effect without a gauge (prometheus = false, or a " + r.typ.String() + " value)"
		})
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
	if name := withSuffix(r.gauge, r.unit.suffix); !strings.Contains(gauge, "$") && c.m.reservedGauge(name) {
		c.errorf(r.index, "gauge", "%s is a name of the exporter's own (%s_exporter_* and the device gauges); name the gauge otherwise", name, c.m.cfg.Namespace)
	}
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
