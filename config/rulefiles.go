package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// The operator's own rules live in files of their own (rule_files), apart
// from the shipped config.toml that the next release replaces: they are
// read before its rules, so that they win (the first rule that matches a
// parameter takes it), and an upgrade never touches them.

// rulesFrom is the part of the rules that one file holds.
type rulesFrom struct {
	file  string
	loc   *locator
	first int // index of its first rule among all
	n     int
}

// ruleFile is what a rule file holds: rules, nothing else.
type ruleFile struct {
	Rule []mapping.Rule `toml:"rule"`
}

// readRuleFiles reads the rule files that patterns name (glob patterns,
// relative to the directory of the configuration file; each pattern's
// files in name order), in order. It returns their rules, where each
// came from, and every problem found, as "file:line: key: message".
func readRuleFiles(configFile string, patterns []string, lookup func(string) (string, bool)) ([]mapping.Rule, []rulesFrom, []string) {
	var rules []mapping.Rule
	var from []rulesFrom
	var problems []string
	seen := map[string]bool{}
	for _, pattern := range patterns {
		if pattern == "" {
			continue
		}
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(configFile), pattern)
		}
		files, err := filepath.Glob(pattern)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: rule_files: %q is not a glob pattern: %v", configFile, pattern, err))
			continue
		}
		slices.Sort(files)
		for _, f := range files {
			if seen[f] {
				continue // named by two patterns: read once
			}
			seen[f] = true
			rs, loc, ps := readRuleFile(f, lookup)
			problems = append(problems, ps...)
			for i := range rs {
				rs[i].Own = true
			}
			from = append(from, rulesFrom{file: f, loc: loc, first: len(rules), n: len(rs)})
			rules = append(rules, rs...)
		}
	}
	return rules, from, problems
}

// readRuleFile reads one rule file: [[rule]] entries, with ${VAR}
// expanded as in the configuration.
func readRuleFile(file string, lookup func(string) (string, bool)) ([]mapping.Rule, *locator, []string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, []string{fmt.Sprintf("%s: %v", file, err)}
	}
	text, err := expandEnv(file, string(data), lookup)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	md, err := toml.Decode(text, &map[string]any{})
	if err != nil {
		return nil, nil, []string{decodeProblem(file, err, nil)}
	}
	loc := newLocator(text, md.Keys())
	var rf ruleFile
	var problems []string
	if md, err = toml.Decode(text, &rf); err != nil {
		// Every key of a wrong type, and the rest checked on without them.
		problems = decodeEach(file, text, &rf, loc)
		if len(problems) == 0 {
			return nil, nil, []string{decodeProblem(file, err, loc)}
		}
		rf = ruleFile{}
		if md, err = toml.Decode(withoutLines(text, problems), &rf); err != nil {
			return nil, nil, problems
		}
	}
	for _, k := range loc.unknown(md.Undecoded()) {
		msg := unknownKeyMessage(k.key)
		if len(k.key) == 1 {
			msg = fmt.Sprintf("unknown key %q: a rule file holds [[rule]] entries only", k.key[0])
		}
		problems = append(problems, loc.formatLine(file, k.line, k.path, msg))
	}
	return rf.Rule, loc, problems
}

// ruleSource is where rule i (among all) came from: its file, the
// locator of that file, and its index within the file.
func ruleSource(from []rulesFrom, i int) (rulesFrom, int, bool) {
	for _, f := range from {
		if i >= f.first && i < f.first+f.n {
			return f, i - f.first, true
		}
	}
	return rulesFrom{}, 0, false
}

// formatMapping writes a problem of the mapping as "file:line: key:
// message", in the file of its rule.
func formatMapping(file string, loc *locator, from []rulesFrom, e *mapping.ConfigError) string {
	if e.Rule >= 0 {
		if f, local, ok := ruleSource(from, e.Rule); ok && f.loc != nil {
			return f.loc.format(f.file, fmt.Sprintf("rule#%d.%s", local, e.Key), e.Msg)
		}
	}
	return loc.format(file, mappingKey(e), e.Msg)
}

// RuleOrigin says where rule i (0-based, among all) is written:
// "rules.d/fleet.toml:12".
func (l *Loaded) RuleOrigin(i int) string {
	f, local, ok := ruleSource(l.rules, i)
	if !ok || f.loc == nil {
		return l.File
	}
	if line := f.loc.line(fmt.Sprintf("rule#%d", local)); line > 0 {
		return fmt.Sprintf("%s:%d", f.file, line)
	}
	return f.file
}

// RelativeRuleOrigin is RuleOrigin relative to the configuration file's
// directory ("config.toml:222", "rules.d/tanks.toml:3"): the same
// wherever the program runs from, for generated files.
func (l *Loaded) RelativeRuleOrigin(i int) string {
	o := l.RuleOrigin(i)
	if rel, err := filepath.Rel(filepath.Dir(l.File), o); err == nil {
		return rel
	}
	return o
}
