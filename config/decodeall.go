package config

import (
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// decodeEach decodes text into cfg key by key, so that every key of a
// wrong type is found in one run (a whole-file decode stops at the first),
// and returns a "file:line: key: message" for each. Keys that belong to no
// field are left to the unknown-key check.
func decodeEach(file, text string, cfg any, loc *locator) []string {
	var top map[string]toml.Primitive
	md, err := toml.Decode(text, &top)
	if err != nil {
		return nil // syntax: reported by the first pass
	}
	var problems []string
	report := func(path string, err error) {
		problems = append(problems, loc.format(file, path, keyMessage(err)))
	}
	root := reflect.ValueOf(cfg).Elem()
	for _, name := range sortedKeys(top) {
		field := fieldByTag(root, name)
		switch {
		case !field.IsValid():
		case field.Kind() == reflect.Slice && field.Type().Elem().Kind() == reflect.Struct: // [[rule]]
			var tables []map[string]toml.Primitive
			if err := md.PrimitiveDecode(top[name], &tables); err != nil {
				report(name, err)
				continue
			}
			field.Set(reflect.MakeSlice(field.Type(), len(tables), len(tables)))
			for i, t := range tables {
				decodeKeys(md, t, field.Index(i), name+"#"+strconv.Itoa(i)+".", report)
			}
		case field.Kind() == reflect.Struct:
			var keys map[string]toml.Primitive
			if err := md.PrimitiveDecode(top[name], &keys); err != nil {
				report(name, err)
				continue
			}
			decodeKeys(md, keys, field, name+".", report)
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return lineOf(problems[i]) < lineOf(problems[j]) })
	return problems
}

// decodeKeys decodes each key of a table into its field of dst.
func decodeKeys(md toml.MetaData, keys map[string]toml.Primitive, dst reflect.Value, prefix string, report func(string, error)) {
	for _, k := range sortedKeys(keys) {
		if f := fieldByTag(dst, k); f.IsValid() {
			if err := md.PrimitiveDecode(keys[k], f.Addr().Interface()); err != nil {
				report(prefix+k, err)
			}
		}
	}
}

// fieldByTag is the field of struct v whose toml tag is name.
func fieldByTag(v reflect.Value, name string) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); tag == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

func sortedKeys(m map[string]toml.Primitive) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// typeErrorRE finds BurntSushi/toml's wording of a type mismatch.
var typeErrorRE = regexp.MustCompile(`incompatible types: TOML value has type ([^;]+); destination has type (.+)$`)

// keyMessage is a decode error of one key, without toml's prefix.
func keyMessage(err error) string {
	msg := err.Error()
	if m := tomlLineRE.FindStringSubmatch(msg); m != nil {
		msg = m[3]
	}
	msg = strings.TrimPrefix(msg, "toml: ")
	if m := typeErrorRE.FindStringSubmatch(msg); m != nil {
		return "is " + article(typeName(m[1])) + "; want " + article(typeName(m[2]))
	}
	return msg
}

// typeName says a Go or TOML type as the configuration reference does.
func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean"
	case strings.HasPrefix(t, "[]") || t == "slice" || t == "array":
		return "list"
	case strings.HasPrefix(t, "map") || t == "struct" || t == "table":
		return "table"
	}
	return t
}

func article(word string) string {
	if strings.IndexByte("aeiou", word[0]) >= 0 {
		return "an " + word
	}
	return "a " + word
}

var lineRE = regexp.MustCompile(`:(\d+): `)

// lineOf is the line number of a "file:line: ..." problem, 0 without one.
func lineOf(problem string) int {
	if m := lineRE.FindStringSubmatch(problem); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
