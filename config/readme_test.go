package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// TestReadmeDocumentsEveryKey keeps the configuration reference
// (docs/configuration.md, and docs/rules.md for the rules) from drifting:
// every key the loader accepts, and every unit a rule may name, must be
// documented there.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	var readme string
	for _, page := range []string{"../docs/configuration.md", "../docs/rules.md"} {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		readme += string(data)
	}
	for section, typ := range sections {
		if section == "" {
			continue
		}
		for _, key := range tomlKeys(typ) {
			doc := "`" + section + "." + key + "`"
			if section == "rule" {
				doc = "| `" + key + "` |"
			}
			if !strings.Contains(readme, doc) {
				t.Errorf("docs/configuration.md (or rules.md) does not document %s", doc)
			}
		}
	}
	for _, u := range mapping.Units() {
		if !strings.Contains(readme, "`"+u.Name+"`") || !strings.Contains(readme, "`_"+u.Suffix+"`") && u.Suffix != "" {
			t.Errorf("docs/rules.md units table lacks %s (%s)", u.Name, u.Suffix)
		}
	}
	top := 0 // sections of the top level: [silence.device] is within [silence]
	for section := range sections {
		if section != "" && !strings.Contains(section, ".") {
			top++
		}
	}
	tables := 0 // Config's fields that are tables, not keys like rule_files
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		if k := ct.Field(i).Type.Kind(); k == reflect.Struct || (k == reflect.Slice && ct.Field(i).Type.Elem().Kind() == reflect.Struct) {
			tables++
		}
	}
	if !strings.Contains(readme, "`rule_files`") {
		t.Error("docs/configuration.md does not document `rule_files`")
	}
	if tables != top {
		t.Errorf("Config has sections that the sections table does not list")
	}
}

// TestReadmeStartsShort: the README is the first screen of a new operator:
// short, with a test POST early.
func TestReadmeStartsShort(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 300 {
		t.Errorf("README.md has %d lines: the reference goes in docs/", len(lines))
	}
	post := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "curl -s http://localhost:9883/flespi") {
			post = i + 1
			break
		}
	}
	if post < 0 || post > 80 {
		t.Errorf("the test POST is at line %d of README.md, want it in the first 80", post)
	}
}
