package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Loaded is a checked configuration with its compiled rules.
type Loaded struct {
	Config
	File     string
	Mapping  *mapping.Mapping
	Warnings []string // "file:line: key: message", like errors

	loc   *locator
	rules []rulesFrom // where each rule came from: the rule files, then File
}

// Locate writes a problem of the rules found after loading (the field
// types InfluxDB holds) as "file:line: key: message", as Parse writes its
// errors and warnings.
func (l *Loaded) Locate(e *mapping.ConfigError) string {
	return formatMapping(l.File, l.loc, l.rules, e)
}

// Error lists every problem found in a configuration, one "file:line: key:
// message" per entry.
type Error struct {
	Problems []string
}

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// Load reads, expands, decodes and checks the configuration file at path.
func Load(path string) (*Loaded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, string(data), os.LookupEnv)
}

// Parse is Load for a file already read; file names it in messages and
// lookup reads environment variables (os.LookupEnv when nil).
func Parse(file, text string, lookup func(string) (string, bool)) (*Loaded, error) {
	text, err := expandEnv(file, text, lookup)
	if err != nil {
		return nil, err
	}
	// A first pass finds syntax errors and every key with its line; the
	// second decodes over the defaults, which reports wrong types.
	var raw map[string]any
	md, err := toml.Decode(text, &raw)
	if err != nil {
		return nil, &Error{Problems: []string{decodeProblem(file, err, nil)}}
	}
	loc := newLocator(text, md.Keys())
	cfg := Default()
	var problems []string
	if md, err = toml.Decode(text, &cfg); err != nil {
		// Find every key of a wrong type, not only the first, and go on
		// with the keys that decoded: one run says every problem.
		cfg = Default()
		all := decodeEach(file, text, &cfg, loc)
		if len(all) == 0 {
			return nil, &Error{Problems: []string{decodeProblem(file, err, loc)}}
		}
		problems = append(problems, all...)
		// The rest of the file, those keys left out, is checked on.
		cfg = Default()
		if md, err = toml.Decode(withoutLines(text, all), &cfg); err != nil {
			return nil, &Error{Problems: problems}
		}
	}
	for _, k := range loc.unknown(md.Undecoded()) {
		problems = append(problems, loc.formatLine(file, k.line, k.path, unknownKeyMessage(k.key)))
	}
	own, from, ps := readRuleFiles(file, cfg.RuleFiles, lookup)
	problems = append(problems, ps...)
	from = append(from, rulesFrom{file: file, loc: loc, first: len(own), n: len(cfg.Rules)})
	cfg.Rules = append(own, cfg.Rules...)       // the operator's first: the first match wins
	cfg.HTTP.Tokens = nonEmpty(cfg.HTTP.Tokens) // "${TOKEN:-}" unset means no token
	cfg.InfluxDB.DeadLetterFile = deadLetterPath(cfg.InfluxDB.DeadLetterFile, cfg.Data.Dir)
	if f := cfg.InfluxDB.TokenFile; f != "" {
		if token, err := os.ReadFile(f); err != nil {
			problems = append(problems, loc.format(file, "influxdb.token_file", fmt.Sprintf("cannot read the token: %v", err)))
		} else {
			cfg.InfluxDB.Token = strings.TrimSpace(string(token))
		}
	}
	for _, p := range cfg.validate() {
		problems = append(problems, loc.format(file, p.key, p.msg))
	}
	m, err := mapping.Compile(cfg.Mapping, cfg.Rules)
	if err != nil {
		problems = append(problems, mappingProblems(file, loc, from, err)...)
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	l := &Loaded{Config: cfg, File: file, Mapping: m, loc: loc, rules: from}
	for _, w := range m.Warnings() {
		l.Warnings = append(l.Warnings, l.Locate(w))
	}
	l.Warnings = append(l.Warnings, placeholders(file, loc, &cfg)...)
	return l, nil
}

// decodeProblem rewrites a TOML decoding error as "file:line: key: message".
// With a locator, a key inside a [[rule]] is named by its rule.
var tomlLineRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func decodeProblem(file string, err error, loc *locator) string {
	var (
		line     int
		key, msg string
	)
	var pe toml.ParseError
	switch m := tomlLineRE.FindStringSubmatch(err.Error()); {
	case errors.As(err, &pe):
		line, key, msg = pe.Position.Line, pe.LastKey, pe.Message
	case m != nil:
		line, _ = strconv.Atoi(m[1])
		key = m[2]
		msg = strings.Replace(m[3], "incompatible types: TOML value has type", "is a", 1)
		msg = strings.Replace(msg, "; destination has type", "; want", 1)
	default:
		return fmt.Sprintf("%s: %v", file, err)
	}
	if loc != nil {
		key = loc.ruleKey(key, line)
	}
	if key != "" {
		msg = displayKey(key) + ": " + msg
	}
	return fmt.Sprintf("%s:%d: %s", file, line, msg)
}

// displayKey writes a key path for people: "rule.scale" stays, and the
// locator's "rule#2.scale" becomes "[[rule]] #3 scale".
func displayKey(path string) string {
	for _, table := range []string{"silence.device", "events.device"} {
		if rest, ok := strings.CutPrefix(path, table+"#"); ok {
			idx, sub, _ := strings.Cut(rest, ".")
			n, _ := strconv.Atoi(idx)
			return strings.TrimSpace(fmt.Sprintf("[[%s]] #%d %s", table, n+1, sub))
		}
	}
	rest, ok := strings.CutPrefix(path, "rule#")
	if !ok {
		return path
	}
	idx, sub, _ := strings.Cut(rest, ".")
	n, _ := strconv.Atoi(idx)
	if sub == "" {
		return fmt.Sprintf("[[rule]] #%d", n+1)
	}
	return fmt.Sprintf("[[rule]] #%d %s", n+1, sub)
}

// sections maps a table path to the struct decoded from it, to list the
// valid keys when one is unknown.
var sections = map[string]reflect.Type{
	"":               reflect.TypeFor[Config](),
	"http":           reflect.TypeFor[HTTP](),
	"influxdb":       reflect.TypeFor[InfluxDB](),
	"prometheus":     reflect.TypeFor[Prometheus](),
	"log":            reflect.TypeFor[Log](),
	"data":           reflect.TypeFor[Data](),
	"mqtt":           reflect.TypeFor[MQTT](),
	"silence":        reflect.TypeFor[Silence](),
	"remote_write":   reflect.TypeFor[RemoteWrite](),
	"silence.device": reflect.TypeFor[SilenceFor](),
	"events":         reflect.TypeFor[Events](),
	"events.device":  reflect.TypeFor[EventsFor](),
	"mapping":        reflect.TypeFor[mapping.Config](),
	"rule":           reflect.TypeFor[mapping.Rule](),
}

func unknownKeyMessage(k toml.Key) string {
	parent := strings.Join(k[:len(k)-1], ".")
	where := "at the top level"
	switch {
	case parent == "rule" || parent == "silence.device" || parent == "events.device":
		where = "in [[" + parent + "]]"
	case parent != "":
		where = "in [" + parent + "]"
	}
	msg := fmt.Sprintf("unknown key %q %s", k[len(k)-1], where)
	if t, ok := sections[parent]; ok {
		msg += "; valid keys: " + strings.Join(tomlKeys(t), ", ")
	}
	return msg
}

func tomlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct { // its keys are the table's
			keys = append(keys, tomlKeys(f.Type)...)
			continue
		}
		if tag := f.Tag.Get("toml"); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

// mappingProblems gives each error of mapping.Compile its file and line.
func mappingProblems(file string, loc *locator, from []rulesFrom, err error) []string {
	var out []string
	for _, e := range flatten(err) {
		var ce *mapping.ConfigError
		if errors.As(e, &ce) {
			out = append(out, formatMapping(file, loc, from, ce))
		} else {
			out = append(out, fmt.Sprintf("%s: %v", file, e))
		}
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func mappingKey(e *mapping.ConfigError) string {
	if e.Rule < 0 {
		return "mapping." + e.Key
	}
	return fmt.Sprintf("rule#%d.%s", e.Rule, e.Key)
}

// placeholders warns of the secrets .env.example ships ("change-me-..."),
// which start the stack without a word otherwise: the stream token is the
// one the internet meets.
func placeholders(file string, loc *locator, cfg *Config) []string {
	var out []string
	for _, t := range cfg.HTTP.Tokens {
		if strings.HasPrefix(t, "change-me") {
			out = append(out, loc.format(file, "http.tokens", fmt.Sprintf("%q is .env.example's placeholder: anyone who has read it can post to your stream; set FLESPI_EXPORTER_TOKEN in .env to a secret of your own (openssl rand -hex 24)", t)))
		}
	}
	if strings.HasPrefix(cfg.InfluxDB.Token, "change-me") {
		out = append(out, loc.format(file, "influxdb.token", fmt.Sprintf("%q is .env.example's placeholder: set INFLUXDB_TOKEN in .env to a secret of your own before the first start (InfluxDB 2 keeps the first one it was set up with)", cfg.InfluxDB.Token)))
	}
	return out
}

// withoutLines is text with the lines the problems name commented out.
func withoutLines(text string, problems []string) string {
	lines := strings.Split(text, "\n")
	for _, p := range problems {
		if n := lineOf(p); n > 0 && n <= len(lines) {
			lines[n-1] = "# " + lines[n-1]
		}
	}
	return strings.Join(lines, "\n")
}
