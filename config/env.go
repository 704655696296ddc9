package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// envRef finds $$, ${NAME} and ${NAME:-default}; "${" that starts anything
// else is reported.
var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}\n]*))?\}|\$\{`)

// tableHeader matches [table] and [[array]] lines.
var tableHeader = regexp.MustCompile(`^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*$`)

// expandEnv replaces ${NAME} and ${NAME:-default} in the file's text, and $$
// with $. A variable that is unset and has no default is an error: a config
// that silently turns a missing secret into "" is worse than one that stops.
// [[rule]] tables are not expanded: there ${1} and ${name} are captures.
// Values are escaped for TOML basic strings ("..."), so a value with a quote,
// backslash or newline cannot break the file or shift its line numbers.
func expandEnv(file, text string, lookup func(string) (string, bool)) (string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var (
		b    strings.Builder
		errs []string
	)
	inRule := false
	for i, line := range strings.SplitAfter(text, "\n") {
		// Comments are left alone: they may well show ${NAME} syntax.
		code := stripComment(line)
		if m := tableHeader.FindStringSubmatch(code); m != nil {
			inRule = m[1] == "rule" || strings.HasPrefix(m[1], "rule.")
		}
		if inRule {
			// ${1} and ${name} in rules are captures, not variables.
			b.WriteString(line)
			continue
		}
		errs = append(errs, expandLine(&b, code, lookup, fmt.Sprintf("%s:%d", file, i+1))...)
		b.WriteString(line[len(code):])
	}
	if len(errs) > 0 {
		return "", &Error{Problems: errs}
	}
	return b.String(), nil
}

func expandLine(b *strings.Builder, line string, lookup func(string) (string, bool), where string) []string {
	var errs []string
	last := 0
	for _, m := range envRef.FindAllStringSubmatchIndex(line, -1) {
		b.WriteString(line[last:m[0]])
		last = m[1]
		switch {
		case line[m[0]:m[1]] == "$$":
			b.WriteString("$")
		case m[2] < 0:
			errs = append(errs, where+": \"${\" must start ${NAME} or ${NAME:-default} (write $${ for a literal ${)")
		default:
			name := line[m[2]:m[3]]
			hasDefault := m[4] >= 0
			v, ok := lookup(name)
			switch {
			case ok && (v != "" || !hasDefault):
				b.WriteString(tomlEscape(v))
			case hasDefault:
				b.WriteString(line[m[6]:m[7]]) // written in the file: already TOML
			default:
				errs = append(errs, fmt.Sprintf("%s: environment variable %s is not set (write ${%s:-default} to make it optional)", where, name, name))
			}
		}
	}
	b.WriteString(line[last:])
	return errs
}

var tomlEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

func tomlEscape(s string) string { return tomlEscaper.Replace(s) }
