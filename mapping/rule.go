package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/flespi-exporter/flespi-exporter/message"
)

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

// shadowed warns when earlier rules match every name r matches (see
// shadow.go): r can never match, the first match winning.
func (c *compiler) shadowed(r *rule) {
	samples, ok := r.samples()
	if !ok || len(samples) == 0 {
		return
	}
	var first *rule
	for _, s := range samples {
		e := c.earlierMatch(s)
		if e == nil {
			return
		}
		if first == nil {
			first = e
		}
	}
	c.warnf(r.index, r.key(), "never matches: rule #%d (%s) above it matches every name this one does; the first match wins", first.index+1, first.describe())
}

// earlierMatch is the first rule compiled so far that matches name.
func (c *compiler) earlierMatch(name string) *rule {
	for _, e := range c.m.rules {
		if e.re.MatchString(name) {
			return e
		}
	}
	return nil
}
