package mapping

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// A rule can say when its values are worth an alert: [[rule.alert]]. From
// that one place come the Prometheus alert rules, the colours of the
// dashboards and the promtool tests of the alerts (`flespi-exporter
// alerts`), so that a threshold changed on the rule changes all of them
// together. The threshold is in the rule's unit, as flespi sends the
// value; the alert compares the gauge, in the base unit, with it
// converted.

// AlertRule is a [[rule.alert]] entry.
type AlertRule struct {
	// Name is the alert's name, like "FlespiLowBattery".
	Name string `toml:"name"`
	// Params are the parameters of the rule the alert is for, when the
	// rule matches several names (a glob, a regex); their gauges are
	// compared. Empty: the rule's one gauge.
	Params []string `toml:"params"`
	// Below or Above is the threshold, in the rule's unit: the alert
	// fires while the value is below (or above) it. One of the two.
	Below *float64 `toml:"below"`
	Above *float64 `toml:"above"`
	// For is how long the value must stay past the threshold ("10m").
	For string `toml:"for"`
	// Severity is "info", "warning" (the default) or "critical".
	Severity string `toml:"severity"`
	// Summary follows "Device <ident> <name> " in the alert's summary:
	// "has a low battery".
	Summary string `toml:"summary"`
	// Description is the alert's description, a Prometheus template
	// ({{ $labels.ident }}, {{ $value }}): what it means and what to do.
	Description string `toml:"description"`
}

// Alert is a compiled AlertRule.
type Alert struct {
	Name     string
	Rule     int      // the rule's index
	Gauges   []string // the gauges compared
	Below    bool     // fires below Threshold; else above
	Value    float64  // the threshold in the rule's unit
	Unit     string   // the rule's unit, as written ("" for none)
	Base     float64  // the threshold in the gauge's base unit
	For      time.Duration
	Severity string
	Summary  string
	Desc     string
}

// Selector is the PromQL selector of the alert's gauges.
func (a *Alert) Selector() string {
	if len(a.Gauges) == 1 {
		return a.Gauges[0]
	}
	quoted := make([]string, len(a.Gauges))
	for i, g := range a.Gauges {
		quoted[i] = regexp.QuoteMeta(g)
	}
	return `{__name__=~"` + strings.Join(quoted, "|") + `"}`
}

// Op is the comparison of the alert's expression.
func (a *Alert) Op() string {
	if a.Below {
		return "<"
	}
	return ">"
}

// Alerts returns the alerts the rules declare, in rule order.
func (m *Mapping) Alerts() []Alert { return m.alerts }

var alertNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// alerts compiles the rules' [[rule.alert]] entries, once every rule is
// compiled: a parameter's gauge depends on which rule takes it.
//
// The operator's own rules (rule_files) come first and win the parameters
// they match, alerts included, so that a threshold of one's own on a
// shipped parameter never means editing the shipped file: an own alert of
// a shipped alert's name replaces it; a shipped alert on a parameter an
// own rule takes steps aside where the own rule has an alert of its own,
// and follows the own rule's gauge where it has none (in the same base
// unit). Each is a warning, never an error.
func (c *compiler) alerts(cfgs []Rule) {
	names := map[string]string{} // alert name → its comparison, which must agree
	ownNames := map[string]bool{}
	for _, r := range c.m.rules {
		if r.cfg.Own {
			for _, ar := range r.cfg.Alerts {
				ownNames[ar.Name] = true
			}
		}
	}
	for _, r := range c.m.rules {
		for j, ar := range cfgs[r.index].Alerts {
			key := "alert"
			if len(cfgs[r.index].Alerts) > 1 {
				key = fmt.Sprintf("alert[%d]", j)
			}
			if !r.cfg.Own && ownNames[ar.Name] {
				c.warnf(r.index, key+".name", "%s is declared by your own rules too: yours replaces this one", ar.Name)
				continue
			}
			a, ok := c.alert(r, ar, key)
			if !ok || len(a.Gauges) == 0 {
				continue // an error, or every parameter taken by your own rules
			}
			cmp := a.Op()
			if prev, seen := names[a.Name]; seen && prev != cmp {
				c.errorf(r.index, key+".name", "%s is declared with %q elsewhere: an alert name compares one way", a.Name, prev)
				continue
			}
			names[a.Name] = cmp
			c.m.alerts = append(c.m.alerts, a)
		}
	}
}

func (c *compiler) alert(r *rule, ar AlertRule, key string) (Alert, bool) {
	a := Alert{Name: ar.Name, Rule: r.index, Unit: r.cfg.Unit, Severity: ar.Severity, Summary: ar.Summary, Desc: ar.Description}
	n := len(c.errs)
	if !alertNameRE.MatchString(ar.Name) {
		c.errorf(r.index, key+".name", "%q is not an alert name (letters, digits and '_', like \"FlespiLowBattery\")", ar.Name)
	}
	switch {
	case (ar.Below == nil) == (ar.Above == nil):
		c.errorf(r.index, key, "give one threshold: below = ... or above = ... (in the rule's unit)")
	case ar.Below != nil:
		a.Below, a.Value = true, *ar.Below
	default:
		a.Value = *ar.Above
	}
	a.Base = r.unit.convert(a.Value)
	if ar.For == "" {
		ar.For = "5m"
	}
	d, err := time.ParseDuration(ar.For)
	if err != nil || d < 0 {
		c.errorf(r.index, key+".for", "want a duration like \"10m\"; got %q", ar.For)
	}
	a.For = d
	switch ar.Severity {
	case "":
		a.Severity = "warning"
	case "info", "warning", "critical":
	default:
		c.errorf(r.index, key+".severity", "want info, warning or critical; got %q", ar.Severity)
	}
	if ar.Summary == "" {
		c.errorf(r.index, key+".summary", "say what the alert means, after \"Device <ident> <name> \": summary = \"has a low battery\"")
	}
	a.Gauges = c.alertGauges(r, ar, key)
	return a, len(c.errs) == n
}

// alertGauges are the gauges an alert compares: those of its params, each
// taken by this rule, or the rule's one gauge.
func (c *compiler) alertGauges(r *rule, ar AlertRule, key string) []string {
	if c.partial {
		return []string{""} // another rule is wrong: its parameters are checked the run after
	}
	if r.drop || !r.prom {
		c.errorf(r.index, key, "the rule makes no gauge: an alert compares a gauge (prometheus = true, a number type)")
		return nil
	}
	if len(ar.Params) == 0 {
		if strings.Contains(r.gauge, "$") {
			c.errorf(r.index, key+".params", "the rule's gauge is named after each parameter: name the parameters the alert is for, params = [\"...\"]")
			return nil
		}
		if t := c.m.lookup(r.pattern); !r.cfg.Own && !r.glob && r.cfg.Regex == "" && t.rule != r && t.rule != nil && t.rule.cfg.Own {
			if g := c.yieldTo(r, ar, key, r.pattern, t); g != "" {
				return []string{g}
			}
			return nil
		}
		return []string{withSuffix(r.gauge, r.unit.suffix)}
	}
	var gauges []string
	for _, p := range ar.Params {
		t := c.m.lookup(message.NormalizeName(p))
		switch {
		case t.rule != r && !r.cfg.Own && t.rule != nil && t.rule.cfg.Own:
			if g := c.yieldTo(r, ar, key, p, t); g != "" {
				gauges = append(gauges, g)
			}
		case t.rule != r:
			c.errorf(r.index, key+".params", "%q is not taken by this rule: %s", p, takenBy(t))
		case t.gauge == nil:
			c.errorf(r.index, key+".params", "%q makes no gauge", p)
		default:
			gauges = append(gauges, t.gauge.Name)
		}
	}
	return gauges
}

// yieldTo is what a shipped alert does with a parameter that your own
// rule (t's) takes: it steps aside where your rule has an alert of its own,
// or makes no gauge in the alert's base unit; else it follows your rule's
// gauge, which it returns.
func (c *compiler) yieldTo(r *rule, ar AlertRule, key, param string, t *target) string {
	own := t.rule
	switch {
	case len(own.cfg.Alerts) > 0:
		c.warnf(r.index, key+".params", "%s steps aside for %q: your rule #%d (%s) takes it with an alert of its own", ar.Name, param, own.index+1, own.describe())
	case t.gauge == nil || own.unit.suffix != r.unit.suffix:
		c.warnf(r.index, key+".params", "%s steps aside for %q: your rule #%d (%s) takes it without a gauge in the alert's unit; give your rule an alert of its own", ar.Name, param, own.index+1, own.describe())
	default:
		c.warnf(r.index, key+".params", "%s follows your rule #%d (%s) for %q: it compares your rule's gauge with its threshold", ar.Name, own.index+1, own.describe(), param)
		return t.gauge.Name
	}
	return ""
}

func takenBy(t *target) string {
	if t.rule == nil {
		return "no rule matches it"
	}
	return fmt.Sprintf("rule #%d (%s) takes it first", t.rule.index+1, t.rule.describe())
}
