package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// locator finds the line of every key of a TOML file. BurntSushi/toml lists
// the keys in file order but keeps their positions to itself, so the locator
// walks the lines alongside that list: each key is the next place where its
// name stands as a key ("name =", "[name]", "name." or "{ name =").
type locator struct {
	entries []entry
	lines   map[string]int // path → line
}

// entry is one key of the file. Its path names the [[rule]] entry it is in:
// "rule#2.labels.sensor" is labels.sensor of the third rule.
type entry struct {
	key  toml.Key
	path string
	line int
}

func newLocator(text string, keys []toml.Key) *locator {
	l := &locator{lines: map[string]int{}}
	lines := strings.Split(text, "\n")
	for i := range lines {
		lines[i] = stripComment(lines[i])
	}
	cursor := 0
	index := map[string]int{} // arrays of tables: the entry being read
	for _, k := range keys {
		path := k.String()
		for _, array := range arrayTables {
			n := len(array)
			if len(k) < n || toml.Key(k[:n]).String() != array.String() {
				continue
			}
			if len(k) == n {
				index[array.String()]++
			}
			path = fmt.Sprintf("%s#%d", array, index[array.String()]-1)
			if len(k) > n {
				path += "." + toml.Key(k[n:]).String()
			}
		}
		re := keyPattern(k[len(k)-1])
		line := 0
		for ln := cursor; ln < len(lines); ln++ {
			if re.MatchString(lines[ln]) {
				cursor, line = ln, ln+1
				break
			}
		}
		l.entries = append(l.entries, entry{k, path, line})
		if _, ok := l.lines[path]; !ok {
			l.lines[path] = line
		}
	}
	return l
}

// arrayTables are the arrays of tables ([[rule]]): a key in one is named
// by its entry, "rule#2.match", "silence.device#0.after".
var arrayTables = []toml.Key{{"rule"}, {"silence", "device"}, {"events", "device"}}

func keyPattern(name string) *regexp.Regexp {
	q := regexp.QuoteMeta(name)
	return regexp.MustCompile(`(?:^|[\s{,.\[])(?:"` + q + `"|'` + q + `'|` + q + `)\s*(?:=|\]|\.)`)
}

// stripComment removes a # comment, minding quoted strings.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote != 0 && c == quote:
			quote = 0
		case quote == '"' && c == '\\':
			i++
		case quote == 0 && c == '#':
			return line[:i]
		}
	}
	return line
}

// line returns the line of path, or of the closest enclosing key that is in
// the file (a missing "rule#2.match" falls back to its [[rule]] line).
func (l *locator) line(path string) int {
	for p := path; p != ""; {
		if n := l.lines[p]; n > 0 {
			return n
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (l *locator) format(file, path, msg string) string {
	return l.formatLine(file, l.line(path), path, msg)
}

// unknown returns the outermost keys that were not decoded: for an unknown
// [table], the table and not each key in it.
func (l *locator) unknown(undecoded []toml.Key) []entry {
	bad := map[string]bool{}
	for _, k := range undecoded {
		bad[k.String()] = true
	}
	var out []entry
	for _, e := range l.entries {
		if !bad[e.key.String()] {
			continue
		}
		inside := false
		for i := 1; i < len(e.key); i++ {
			inside = inside || bad[toml.Key(e.key[:i]).String()]
		}
		if !inside {
			out = append(out, e)
		}
	}
	return out
}

func (l *locator) formatLine(file string, line int, path, msg string) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", file, line, displayKey(path), msg)
	}
	return fmt.Sprintf("%s: %s: %s", file, displayKey(path), msg)
}

// ruleKey turns "rule.scale", reported at line, into the path of the
// [[rule]] entry that holds that line, "rule#2.scale".
func (l *locator) ruleKey(key string, line int) string {
	sub, ok := strings.CutPrefix(key, "rule.")
	if !ok {
		return key
	}
	found := ""
	for _, e := range l.entries {
		if len(e.key) == 1 && e.key[0] == "rule" && e.line > 0 && e.line <= line {
			found = e.path
		}
	}
	if found == "" {
		return key
	}
	return found + "." + sub
}
