package mapping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// globMatches reports whether name matches a simple glob of highCardinality.
func globMatches(glob, name string) bool {
	re, err := compileGlob(glob)
	return err == nil && re.MatchString(name)
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
