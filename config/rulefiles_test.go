package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes files (name → text) into a temporary directory and
// returns its path.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const shipped = `rule_files = ["rules.d/*.toml"]

[[rule]]
match = "ble.sensor.temperature.*"
unit = "celsius"

[[rule]]
match = "position.speed"
unit = "km/h"
`

// TestRuleFilesFirst: the operator's rule files are read before the
// shipped rules, in name order, so their rules win; each rule's origin is
// its own file and line.
func TestRuleFilesFirst(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"config.toml": shipped,
		"rules.d/20-fuel.toml": `# fuel of our tanks
[[rule]]
match = "custom.tank.level"
unit = "percent"
`,
		"rules.d/10-temperature.toml": `[[rule]]
regex = 'ble\.sensor\.temperature\.(\d+)'
field = "temperature"
tags = { sensor = "$1" }
unit = "celsius"
`,
		"rules.d/notes.txt": "not a rule file",
	})
	l, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := l.Mapping.Rules()
	if len(rules) != 4 || !strings.Contains(rules[0].Pattern, `ble\.sensor`) || rules[1].Pattern != `match = "custom.tank.level"` {
		t.Fatalf("rules in order: %+v", rules)
	}
	for i, want := range []string{"rules.d/10-temperature.toml:1", "rules.d/20-fuel.toml:2", "config.toml:3", "config.toml:7"} {
		if got := l.RuleOrigin(i); !strings.HasSuffix(got, want) {
			t.Errorf("rule #%d from %s, want %s", i+1, got, want)
		}
	}
}

// TestRuleFileErrors: a mistake in a rule file is reported with that
// file's name and line; a rule file holds rules only.
func TestRuleFileErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"config.toml": shipped,
		"rules.d/mine.toml": `[[rule]]
match = "a.b"

[[rule]]
match = "c.d"
unit = "furlongs"

[http]
listen = ":1"
`,
	})
	_, err := Load(filepath.Join(dir, "config.toml"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"rules.d/mine.toml:8: http: unknown key \"http\": a rule file holds [[rule]] entries only",
		"rules.d/mine.toml:6: [[rule]] #2 unit:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// TestAlertErrors: a rule's alert entries are checked with file:line.
func TestAlertErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"config.toml": `[[rule]]
match = "battery.voltage"
unit = "volts"
[[rule.alert]]
name = "FlespiLowBattery"
below = 3.5
above = 5
summary = "has a low battery"

[[rule]]
match = "can.*.temperature"
unit = "celsius"
[[rule.alert]]
name = "Hot engine"
above = 105
for = "soon"
severity = "page"

[[rule]]
match = "device.name"
type = "string"
[[rule.alert]]
name = "NoName"
below = 1
summary = "has no name"
`})
	_, err := Load(filepath.Join(dir, "config.toml"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"config.toml:4: [[rule]] #1 alert: give one threshold: below = ... or above = ...",
		`config.toml:14: [[rule]] #2 alert.name: "Hot engine" is not an alert name`,
		`config.toml:16: [[rule]] #2 alert.for: want a duration like "10m"; got "soon"`,
		`config.toml:17: [[rule]] #2 alert.severity: want info, warning or critical; got "page"`,
		`[[rule]] #2 alert.summary: say what the alert means`,
		`[[rule]] #2 alert.params: the rule's gauge is named after each parameter`,
		`config.toml:22: [[rule]] #3 alert: the rule makes no gauge`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// TestPlaceholderSecrets: .env.example's change-me secrets are warned of,
// with the setting to change.
func TestPlaceholderSecrets(t *testing.T) {
	env := map[string]string{"FLESPI_EXPORTER_TOKEN": "change-me-stream-token", "INFLUXDB_TOKEN": "change-me-influx-token", "INFLUXDB_URL": "http://influxdb:8086"}
	text, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse("config.toml", string(text), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(l.Warnings, "\n")
	for _, want := range []string{"set FLESPI_EXPORTER_TOKEN in .env", "set INFLUXDB_TOKEN in .env"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning saying %q:\n%s", want, all)
		}
	}
}

// TestEveryProblemInOneRun: a type error, an unknown unit and an alert
// without a name, in three rules, are all said by one load, each with
// file:line, whether the rules are in the configuration file or in a rule
// file.
func TestEveryProblemInOneRun(t *testing.T) {
	rules := `[[rule]]
match = "a"
scale = "ten"

[[rule]]
match = "b"
unit = "furlongs"

[[rule]]
match = "c"
unit = "volts"
[[rule.alert]]
below = 3
summary = "is low"
`
	for _, inRuleFile := range []bool{false, true} {
		dir := t.TempDir()
		main := "[mapping]\nnamespace = \"flespi\"\n\n" + rules
		if inRuleFile {
			main = "rule_files = [\"rules.d/*.toml\"]\n"
			if err := os.MkdirAll(filepath.Join(dir, "rules.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "rules.d", "own.toml"), []byte(rules), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		file := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(file, []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(file)
		if err == nil {
			t.Fatal("loaded")
		}
		msg := err.Error()
		for _, want := range []string{`scale: is a string; want a number`, `unknown unit "furlongs"`, `alert.name: "" is not an alert name`} {
			if !strings.Contains(msg, want) {
				t.Errorf("rule file %v: the one run does not say %q:\n%s", inRuleFile, want, msg)
			}
		}
		if n := strings.Count(msg, ".toml:"); n < 3 {
			t.Errorf("rule file %v: %d problems with file:line:\n%s", inRuleFile, n, msg)
		}
	}
}
