package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// check validates a configuration file and prints what it sets up.
func check(file string, withInflux bool, params string, stdout, stderr io.Writer) int {
	cfg := load(file, stderr)
	if cfg == nil {
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", file)
	printSummary(stdout, cfg)
	printTaken(stdout, cfg)
	if params != "" {
		printWinners(stdout, cfg, strings.Split(params, ","))
	}
	warnings := cfg.Warnings
	if withInflux {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if cfg.InfluxDB.URL != "" {
			if err := influx.CheckWrites(ctx, cfg.InfluxDB); err != nil {
				fmt.Fprintln(stderr, "check -influx: InfluxDB does not take the exporter's writes:", err)
				return 1
			}
			fmt.Fprintf(stdout, "influxdb:   %s takes writes to bucket %q with this token\n", cfg.InfluxDB.URL, cfg.InfluxDB.Bucket)
		}
		typeWarnings, err := influx.CheckFieldTypes(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "check -influx:", err)
			return 1
		}
		fmt.Fprintf(stdout, "influxdb:   field types compared with %s: %d conflict(s)\n", cfg.InfluxDB.URL, len(typeWarnings))
		warnings = append(warnings, typeWarnings...)
	}
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, "\nwarnings (%d):\n", len(warnings))
		for _, w := range warnings {
			fmt.Fprintln(stdout, "  "+w)
		}
	}
	return 0
}

func printSummary(w io.Writer, cfg *config.Loaded) {
	h := cfg.HTTP
	auth := "none (no tokens set)"
	if len(h.Tokens) > 0 {
		auth = fmt.Sprintf("%d token(s) in %s", len(h.Tokens), h.AuthHeader)
	}
	fmt.Fprintf(w, "http:       listen %s, paths %s, auth %s\n", h.Listen, strings.Join(h.Paths, " "), auth)
	internal := "internal " + h.InternalListen + ": /metrics, status page, /-/ready, /-/reload"
	if h.InternalListen == "" {
		internal = "no internal listener: /metrics, status page and /-/ready on the stream listener, behind its tokens"
	}
	fmt.Fprintf(w, "            %s\n", internal)
	if cfg.InfluxDB.URL == "" {
		fmt.Fprintln(w, "influxdb:   none (url is empty): Prometheus only")
	} else {
		fmt.Fprintf(w, "influxdb:   %s org %q bucket %q\n", cfg.InfluxDB.URL, cfg.InfluxDB.Org, cfg.InfluxDB.Bucket)
	}
	fmt.Fprintf(w, "prometheus: %s, at most %d series\n", cfg.Prometheus.Path, cfg.Prometheus.MaxSeries)
	if q := cfg.MQTT; q.Token != "" {
		share := ""
		if q.ShareGroup != "" {
			share = ", share group " + q.ShareGroup
		}
		fmt.Fprintf(w, "mqtt:       %s as %q, topics %s%s, batches of %d\n", q.URL, q.ClientID, strings.Join(q.Topics, " "), share, q.BatchSize)
	} else {
		fmt.Fprintln(w, "mqtt:       off (no mqtt.token)")
	}
	m := cfg.Mapping.Config()
	fmt.Fprintf(w, "mapping:    measurement %q, namespace %q, unmatched %s, tags [ident %s], time [%s], gauge ttl %s\n",
		m.Measurement, m.Namespace, m.Unmatched, strings.Join(m.Tags, " "), strings.Join(m.Time, " "), m.GaugeTTL)
	rules := cfg.Mapping.Rules()
	var drops, fields, gauges int
	for _, r := range rules {
		switch {
		case r.Drop:
			drops++
		default:
			if r.Measurement != "" {
				fields++
			}
			if r.Gauge != "" {
				gauges++
			}
		}
	}
	fmt.Fprintf(w, "rules:      %d (%d drop, %d to InfluxDB, %d to gauges)\n", len(rules), drops, fields, gauges)
	for _, r := range rules {
		fmt.Fprintf(w, "  #%-3d %-45s %s  (%s)\n", r.Index+1, r.Pattern, describeRule(r), cfg.RuleOrigin(r.Index))
	}
}

// printWinners says, for each parameter name, which rule takes it (the
// first that matches) and which later ones match it too but never get it.
func printWinners(w io.Writer, cfg *config.Loaded, names []string) {
	rules := cfg.Mapping.Rules()
	fmt.Fprintln(w, "\nparameters:")
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		matching := cfg.Mapping.Matching(name)
		if len(matching) == 0 {
			fmt.Fprintf(w, "  %s: no rule matches (mapping.unmatched = %q)\n", name, cfg.Mapping.Config().Unmatched)
			continue
		}
		first := rules[matching[0]]
		fmt.Fprintf(w, "  %s: rule #%d %s (%s): %s\n", name, first.Index+1, first.Pattern, cfg.RuleOrigin(first.Index), describeRule(first))
		for _, i := range matching[1:] {
			fmt.Fprintf(w, "      also matched by rule #%d %s (%s), which never gets it: the first match wins\n", i+1, rules[i].Pattern, cfg.RuleOrigin(i))
		}
		for _, a := range cfg.Mapping.AlertsOn(name) {
			fmt.Fprintf(w, "      alert %s: %s %v%s for %v (rule #%d, %s)\n", a.Name, map[bool]string{true: "below", false: "above"}[a.Below], a.Value, unitSuffix(a.Unit), a.For, a.Rule+1, cfg.RuleOrigin(a.Rule))
		}
	}
}

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

// printTaken says what your own rules (rule_files) take from the shipped
// ones: each exact parameter name of yours that a later rule matches too.
func printTaken(w io.Writer, cfg *config.Loaded) {
	rules := cfg.Mapping.Rules()
	var lines []string
	for _, r := range rules {
		if !cfg.Mapping.Own(r.Index) || r.Example == "" || strings.ContainsAny(r.Example, "*") {
			continue
		}
		for _, i := range cfg.Mapping.Matching(r.Example)[1:] {
			if !cfg.Mapping.Own(i) {
				lines = append(lines, fmt.Sprintf("  your rule #%d (%s) takes %s from rule #%d (%s)", r.Index+1, cfg.RuleOrigin(r.Index), r.Example, i+1, cfg.RuleOrigin(i)))
			}
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nyour rules take from the shipped ones:")
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
}

func describeRule(r mapping.RuleInfo) string {
	if r.Drop {
		return "drop"
	}
	var out []string
	switch {
	case r.Tag != "":
		out = append(out, fmt.Sprintf("tag %s in %s", r.Tag, r.Measurement))
	case r.Measurement != "":
		out = append(out, fmt.Sprintf("%s field %s in %s", r.Type, r.Field, r.Measurement))
	}
	if r.Gauge != "" {
		out = append(out, fmt.Sprintf("gauge %s (ttl %s)", r.Gauge, r.TTL))
	}
	if len(out) == 0 {
		return "no output"
	}
	// $0 is the parameter name: say so.
	return strings.ReplaceAll(strings.Join(out, "; "), "$0", "<parameter>")
}
