package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// flat describes a decoded message as "name:kind=raw" strings.
func flat(m *Message) []string {
	var out []string
	for _, p := range m.Params {
		out = append(out, p.Name+":"+p.Kind.String()+"="+string(p.Raw))
	}
	return out
}

func decodeAll(t *testing.T, body string) ([][]string, error) {
	t.Helper()
	var msgs [][]string
	err := NewDecoder().Decode([]byte(body), func(m *Message) error {
		msgs = append(msgs, flat(m))
		return nil
	})
	return msgs, err
}

func TestDecodeShapes(t *testing.T) {
	one := []string{"ident:string=a", "x:number=1"}
	tests := []struct {
		name string
		body string
		want [][]string
	}{
		{"array", `[{"ident":"a","x":1}]`, [][]string{one}},
		{"array of two", `[{"ident":"a","x":1},{"ident":"b"}]`, [][]string{one, {"ident:string=b"}}},
		{"empty array", ` [ ] `, nil},
		{"single object", `{"ident":"a","x":1}`, [][]string{one}},
		{"JSON lines", "{\"ident\":\"a\",\"x\":1}\n{\"ident\":\"a\",\"x\":1}\n", [][]string{one, one}},
		{"whitespace everywhere", "\r\n[ { \"ident\" : \"a\" ,\t\"x\" : 1 } ]\n", [][]string{one}},
		{"empty object", `[{}]`, [][]string{nil}},
		// Keys are first compared with the previous message's key at the
		// same position, byte for byte: escapes must still be read.
		{"keys written two ways", `[{"ab":1},{"a\u0062":2},{"a\"":3},{"a\"":4},{"ab":5}]`,
			[][]string{{"ab:number=1"}, {"ab:number=2"}, {`a":number=3`}, {`a":number=4`}, {"ab:number=5"}}},
		{"key cut short", `[{"abc":1},{"ab":2}]`, [][]string{{"abc:number=1"}, {"ab:number=2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(t, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func equal(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

func TestDecodeValues(t *testing.T) {
	body := `{"n":-12.5e3,"z":0,"s":"a\"b\\c\u00e9\ud83d\ude00\n","t":true,"f":false,"nil":null,` +
		`"arr":[1, {"a": [true]}],"obj":{"x":"y"},"ain#1":0.42,"bad":"` + "\xff" + `"}`
	got, err := decodeAll(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"n:number=-12.5e3", "z:number=0", "s:string=a\"b\\c\u00e9\U0001F600\n", "t:boolean=true",
		"f:boolean=false", "nil:null=", `arr:array=[1, {"a": [true]}]`, `obj:object={"x":"y"}`,
		"ain.1:number=0.42", "bad:string=\uFFFD",
	}
	if strings.Join(got[0], "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", got[0], want)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{``, "invalid JSON at line 1, byte 0: the body is empty; want a JSON array of messages"},
		{`[{"ident":"a"}`, "invalid JSON at line 1, byte 14: want ',' or ']' after array element 0, found the end of the body"},
		{`[{"ident":"a"},]`, "invalid JSON at line 1, byte 15: array element 1 is ']'; every message must be a JSON object"},
		{`[1]`, "invalid JSON at line 1, byte 1: array element 0 is a number; every message must be a JSON object"},
		{"[{\"a\":1},\n{\"b\":01}]", `invalid JSON at line 2, byte 16: want ',' or '}' after the value of "b", found a number`},
		{`{"a":tru}`, `invalid JSON at line 1, byte 5: want "true", found "tru", which is not JSON`},
		{`{"a":"x`, "invalid JSON at line 1, byte 7: unterminated string"},
		{"{\"a\":\"x\ty\"}", "invalid JSON at line 1, byte 7: control character 0x09 inside a string"},
		{`{"a":"\q"}`, `invalid JSON at line 1, byte 7: invalid escape '\q'`},
		{`{"a":1.}`, "invalid JSON at line 1, byte 7: invalid number: want a digit after '.'"},
		{`{"a":[1,]}`, "invalid JSON at line 1, byte 8: want a value, found ']'"},
		{`[{"a":1}] x`, "invalid JSON at line 1, byte 10: unexpected 'x' after the end of the array"},
		{`{a:1}`, `invalid JSON at line 1, byte 1: want a parameter name in double quotes, found 'a'`},
		{`"ident"`, "invalid JSON at line 1, byte 0: want a JSON object or array of objects, found a string"},
		{`{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "invalid JSON at line 1, byte 69: values nested deeper than 64 levels"},
	}
	for _, tt := range tests {
		_, err := decodeAll(t, tt.body)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a SyntaxError", tt.body, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got  %s\n want %s", tt.body, err, tt.want)
		}
	}
}

func TestDecodeKeepsMessageText(t *testing.T) {
	var raws []string
	err := NewDecoder().Decode([]byte(` [ {"a":1} ,{ "b" : [2] }]`), func(m *Message) error {
		raws = append(raws, string(m.Raw))
		return nil
	})
	if err != nil || strings.Join(raws, "|") != `{"a":1}|{ "b" : [2] }` {
		t.Errorf("got %q, %v", raws, err)
	}
}

func TestDecodeRepeats(t *testing.T) {
	// Keys are noted only once a message's keys stop being the previous
	// message's, position by position: repeats must be found all the same.
	body := `[{"a":1,"b":2},{"a":1,"a":2},{"ain#1":1,"ain.1":2},{"a":1},` +
		`{"a":1,"b":2},{"a":1,"b":2},{"a":1,"b":2,"a":3},{"a":1,"b":2},{"a":1,"b":2,"c":3,"b":4},{"a":1,"b":2,"c":3},` +
		`{"a":1,"a":2},{"a":1,"a":2}]`
	want := "[false true true false false false true false true false true true]"
	var got []bool
	err := NewDecoder().Decode([]byte(body), func(m *Message) error {
		got = append(got, m.Repeats)
		return nil
	})
	if err != nil || fmt.Sprint(got) != want {
		t.Errorf("Repeats = %v, %v; want %s", got, err, want)
	}
}

// TestDecodeRepeatsAfterFault: a message cut short leaves no half-noted
// keys behind for the next body's messages to trust.
func TestDecodeRepeatsAfterFault(t *testing.T) {
	d := NewDecoder()
	var got []bool
	for _, body := range []string{`[{"a":1,"b":2}]`, `[{"a":1,"b":2,"a":`, `[{"a":1,"b":2,"a":3}]`, `{"a":1,"b":2}`, `{"a":1,"b":`, `{"a":1,"b":2,"b":3}`} {
		_ = d.Decode([]byte(body), func(m *Message) error {
			got = append(got, m.Repeats)
			return nil
		})
	}
	if want := "[false true false true]"; fmt.Sprint(got) != want {
		t.Errorf("Repeats = %v; want %s", got, want)
	}
}

func TestDecodeCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := NewDecoder().Decode([]byte(`[{"a":1},{"a":2}]`), func(*Message) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("got %v after %d calls, want stop after 1", err, n)
	}
}

func TestDecodeSamples(t *testing.T) {
	body, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []map[string]any
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	i := 0
	err = NewDecoder().Decode(body, func(m *Message) error {
		if len(m.Params) != len(want[i]) {
			t.Errorf("message %d: %d params, encoding/json finds %d", i, len(m.Params), len(want[i]))
		}
		if p := m.Get("ident"); p == nil || p.Kind != String || string(p.Raw) != want[i]["ident"] {
			t.Errorf("message %d: ident %+v, want %v", i, p, want[i]["ident"])
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("decoded %d of %d messages: %v", i, len(want), err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{"1508508510", "2017-10-20T14:08:30Z", true},
		{"1508508510.013227", "2017-10-20T14:08:30.013227Z", true},
		{"1729132792.719063", "2024-10-17T02:39:52.719063Z", true},
		{"1717171200.25", "2024-05-31T16:00:00.25Z", true},
		{"1508508510.123456789123", "2017-10-20T14:08:30.123456789Z", true},
		{"1.5085085100132e9", "2017-10-20T14:08:30.0132Z", true},
		{"-1.5", "1969-12-31T23:59:58.5Z", true},
		{"", "", false},
		{"abc", "", false},
		{"12.", "", false},
		{"1e400", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseTime([]byte(tt.raw))
		if ok != tt.ok || (ok && got.Format(time.RFC3339Nano) != tt.want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s, %v", tt.raw, got.Format(time.RFC3339Nano), ok, tt.want, tt.ok)
		}
	}
}

// TestParseTimeExact checks every microsecond of a second: a float64 route
// would get some of them wrong.
func TestParseTimeExact(t *testing.T) {
	for us := 0; us < 1_000_000; us += 7 {
		raw := []byte("1729132792." + leftPad(us))
		got, ok := ParseTime(raw)
		if !ok || got.Unix() != 1729132792 || got.Nanosecond() != us*1000 {
			t.Fatalf("ParseTime(%s) = %v", raw, got)
		}
	}
}

func leftPad(us int) string {
	s := "000000" + itoa(us)
	return s[len(s)-6:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// FuzzDecode checks the decoder against encoding/json: it never panics, it
// accepts only valid JSON, and it accepts every valid array of objects.
func FuzzDecode(f *testing.F) {
	samples, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(samples)
	f.Add([]byte(`{"ident":"a","s":"\u00e9\ud83d"}` + "\n" + `{"x":[1,{"y":null}]}`))
	f.Add([]byte(`[{"a":-0.5e-3,"b":"x\"y"}]`))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, body []byte) {
		var n int
		var names [][]string
		err := d.Decode(body, func(m *Message) error {
			n++
			var ns []string
			for _, p := range m.Params {
				ns = append(ns, p.Name)
			}
			names = append(names, ns)
			if distinct := len(slices.Compact(slices.Sorted(slices.Values(ns)))); distinct < len(ns) && !m.Repeats {
				t.Errorf("message %d repeats a name but Repeats is false: %q", n, ns)
			}
			for _, p := range m.Params {
				if p.Kind == Number {
					// A valid number parses, unless it is beyond float64
					// (which the mapping skips as not_finite).
					_, err := strconv.ParseFloat(string(p.Raw), 64)
					if _, ok := p.Float(); !ok && !errors.Is(err, strconv.ErrRange) {
						t.Errorf("number %q does not parse", p.Raw)
					}
					// The value read while decoding is the one read from the text.
					f, ok := p.ShortDecimal()
					g, gok := parseShortDecimal(p.Raw)
					if ok != gok || math.Float64bits(f) != math.Float64bits(g) {
						t.Errorf("number %q: decoded %v %v, from the text %v %v", p.Raw, f, ok, g, gok)
					}
					checkIntAndTime(t, &p)
				}
			}
			return nil
		})
		var arr []map[string]json.RawMessage
		isArray := json.Unmarshal(body, &arr) == nil
		if err == nil && !json.Valid(body) && !validLines(body) {
			t.Errorf("accepted invalid JSON %q", body)
		}
		if isArray && arr != nil && err != nil {
			t.Errorf("rejected a valid array of objects %q: %v", body, err)
		}
		if isArray && err == nil && n != len(arr) {
			t.Errorf("%d messages, encoding/json finds %d in %q", n, len(arr), body)
		}
		if isArray && err == nil && n == len(arr) {
			for i, m := range arr {
				var want []string
				for k := range m {
					want = append(want, NormalizeName(k))
				}
				slices.Sort(want)
				if got := slices.Compact(slices.Sorted(slices.Values(names[i]))); !slices.Equal(got, slices.Compact(want)) {
					t.Errorf("message %d: names %q, encoding/json finds %q in %q", i, got, want, body)
				}
			}
		}
	})
}

// checkIntAndTime checks that a decoded number's Int and Time, read from
// the digits the decoder kept, are those read from its text.
func checkIntAndTime(t *testing.T, p *Param) {
	t.Helper()
	i, ok := p.Int()
	j, jok := parseInt(p.Raw)
	if i != j || ok != jok {
		t.Errorf("number %q: Int %d %v, from the text %d %v", p.Raw, i, ok, j, jok)
	}
	tm, ok := p.Time()
	tt, tok := ParseTime(p.Raw)
	if !tm.Equal(tt) || ok != tok {
		t.Errorf("number %q: Time %v %v, from the text %v %v", p.Raw, tm, ok, tt, tok)
	}
}

// TestDecodedIntAndTime: integers and timestamps read from the digits the
// decoder kept are those read from the text, short or not.
func TestDecodedIntAndTime(t *testing.T) {
	cases := []struct {
		raw   string
		int   int64 // when isInt
		isInt bool
		time  string
	}{
		{"0", 0, true, "1970-01-01T00:00:00Z"},
		{"-0", 0, true, "1970-01-01T00:00:00Z"},
		{"-12", -12, true, "1969-12-31T23:59:48Z"},
		{"1508508510", 1508508510, true, "2017-10-20T14:08:30Z"},
		{"9007199254740992", 1 << 53, true, ""},
		{"9007199254740993", 1<<53 + 1, true, ""}, // past 2^53: read from the text
		{"9223372036854775807", 1<<63 - 1, true, ""},
		{"-9223372036854775808", -1 << 63, true, ""},
		{"9223372036854775808", 0, false, ""},
		{"1.0", 0, false, "1970-01-01T00:00:01Z"},
		{"1e3", 0, false, "1970-01-01T00:16:40Z"},
		{"1508508510.013227", 0, false, "2017-10-20T14:08:30.013227Z"},
		{"1508508510.123456789", 0, false, "2017-10-20T14:08:30.123456789Z"},
		{"1508508510.1234567891", 0, false, "2017-10-20T14:08:30.123456789Z"}, // ten decimals: from the text
		{"-1.5", 0, false, "1969-12-31T23:59:58.5Z"},
	}
	var body strings.Builder
	body.WriteString("{")
	for i, c := range cases {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, "%q:%s", "p"+itoa(i), c.raw)
	}
	body.WriteString("}")
	err := NewDecoder().Decode([]byte(body.String()), func(m *Message) error {
		for i, c := range cases {
			p := &m.Params[i]
			checkIntAndTime(t, p)
			if n, ok := p.Int(); ok != c.isInt || n != c.int {
				t.Errorf("%s: Int %d %v, want %d %v", c.raw, n, ok, c.int, c.isInt)
			}
			if tm, ok := p.Time(); c.time != "" && (!ok || tm.Format(time.RFC3339Nano) != c.time) {
				t.Errorf("%s: Time %s %v, want %s", c.raw, tm.Format(time.RFC3339Nano), ok, c.time)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// validLines reports whether body is objects one after another.
func validLines(body []byte) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for dec.More() {
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err != nil || obj == nil {
			return false
		}
	}
	return true
}

// TestShortDecimal: the fast path gives the very float strconv gives.
func TestShortDecimal(t *testing.T) {
	cases := []string{"0", "-0", "12.640", "-73.494497", "0.1", "0.3", "123456789012345", "9.99999999999999",
		"1717171200.25", "4.081", "27.412", "0.00000000000001", "1234567890.12345", "-0.5",
		"1717171201.913823", "1234567890123456", "9007199254740992", "0.000000000000000001", "-90071992.54740992"}
	for _, c := range cases {
		got, ok := parseShortDecimal([]byte(c))
		want, _ := strconv.ParseFloat(c, 64)
		if !ok || got != want || (c == "-0" && !math.Signbit(got)) {
			t.Errorf("%s: %v %v, strconv says %v", c, got, ok, want)
		}
	}
	for _, c := range []string{"9007199254740993", "12345678901234567890", "0.0000000000000000001", "1e5", "1.2.3", "", "-", "."} {
		if _, ok := parseShortDecimal([]byte(c)); ok {
			t.Errorf("%q taken by the fast path", c)
		}
	}
}

// FuzzShortDecimal compares the fast path with strconv on any input.
func FuzzShortDecimal(f *testing.F) {
	f.Add("12.640")
	f.Add("-73.494497")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseShortDecimal([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || got != want {
			t.Errorf("%q: fast path %v, strconv %v %v", s, got, want, err)
		}
	})
}

func TestDecodeSameKeys(t *testing.T) {
	body := `[{"a":1,"b":2},{"a":3,"b":4},{"b":1,"a":2},{"a":1},{"a":1},{},{},{"a\u0062":1},{"ab":1},{"ab":2}]`
	want := "[false true false false true false true false true true]" // "a\u0062" is "ab"
	var got []bool
	var seqs []uint32
	err := NewDecoder().Decode([]byte(body), func(m *Message) error {
		got = append(got, m.SameKeys)
		seqs = append(seqs, m.Seq)
		return nil
	})
	if err != nil || fmt.Sprint(got) != want {
		t.Errorf("SameKeys = %v, %v; want %s", got, err, want)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Errorf("Seq %v: not one after the other", seqs)
		}
	}
}

// TestDecodeNumbers: numbers of many shapes, inside the body and at its
// very end, read as strconv reads them, and the short decimals read while
// decoding as from their text; faults are refused.
func TestDecodeNumbers(t *testing.T) {
	var numbers []string
	for _, in := range []string{"0", "7", "12", "1234567", "12345678", "123456789", "100000000000000", "1234567890123456"} {
		for _, fr := range []string{"", ".5", ".25", ".1234567", ".12345678", ".000000001"} {
			for _, ex := range []string{"", "e3", "E-2"} {
				numbers = append(numbers, in+fr+ex, "-"+in+fr+ex)
			}
		}
	}
	for _, n := range numbers {
		for _, body := range []string{`{"n":` + n + `,"padding":"more than sixteen bytes"}`, `{"n":` + n + `}`} {
			var got *Param
			err := NewDecoder().Decode([]byte(body), func(m *Message) error {
				p := m.Params[0]
				got = &p
				return nil
			})
			if err != nil || got == nil || string(got.Raw) != n {
				t.Fatalf("%s: %v, raw %q", body, err, got.Raw)
			}
			want, _ := strconv.ParseFloat(n, 64)
			if f, ok := got.Float(); !ok || f != want {
				t.Errorf("%s: Float %v %v, strconv %v", body, f, ok, want)
			}
			f, ok := got.ShortDecimal()
			g, gok := parseShortDecimal(got.Raw)
			if ok != gok || math.Float64bits(f) != math.Float64bits(g) {
				t.Errorf("%s: ShortDecimal %v %v, from the text %v %v", body, f, ok, g, gok)
			}
		}
	}
	for _, bad := range []string{"01", "-", "1.", "1.e3", "-01.5", "1e", "00", "1.5.5", "--1", "-.5", "12345678.", "0x10"} {
		for _, body := range []string{`{"n":` + bad + `,"padding":"more than sixteen bytes"}`, `{"n":` + bad + `}`} {
			if err := NewDecoder().Decode([]byte(body), func(*Message) error { return nil }); err == nil {
				t.Errorf("%s accepted", body)
			}
		}
	}
}

// TestNotJSONSaysSo: a body that is not JSON is said to be, with what
// stands there ("not json" was reported as "found null").
func TestNotJSONSaysSo(t *testing.T) {
	for body, want := range map[string]string{
		"not json": `found "not", which is not JSON`,
		"nul":      `found "nul", which is not JSON`,
		"null":     "found null",
		"[1]":      "array element 0 is a number",
		"truex":    "found a boolean",
		"<html>":   "found '<'",
	} {
		err := NewDecoder().Decode([]byte(body), func(*Message) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}

// TestKeyAgainstPrevious: a key compared with the previous message's at
// its position, a word at a time, is taken only when every byte is the
// same, whatever its length and wherever the byte that differs.
func TestKeyAgainstPrevious(t *testing.T) {
	d := NewDecoder()
	for n := 1; n <= 40; n++ {
		key := strings.Repeat("k", n)
		variants := []string{key, key[:n-1] + "x", "x" + key[1:], key[:n/2] + "x" + key[n/2+1:], key + "k", key, key}
		var body strings.Builder
		for _, v := range variants {
			fmt.Fprintf(&body, `{"a":1,%q:2,"z":3}`, v)
		}
		body.WriteString(`{"a":1,"` + key) // cut short where the last key's words would be read
		var got []string
		err := d.Decode([]byte(body.String()), func(m *Message) error {
			got = append(got, m.Params[1].Name)
			return nil
		})
		if !slices.Equal(got, variants) {
			t.Errorf("keys of length %d: decoded %q, want %q", n, got, variants)
		}
		if err == nil {
			t.Errorf("keys of length %d: a body cut short in a key is taken", n)
		}
	}
}

// TestUncachedNames: names the decoder does not keep (longer than
// MaxNameLen) have no ID, and each message gets its own.
func TestUncachedNames(t *testing.T) {
	a, b := strings.Repeat("a", MaxNameLen+1), strings.Repeat("b", MaxNameLen+1)
	var got []string
	err := NewDecoder().Decode([]byte(`[{"`+a+`":1},{"`+b+`":1}]`), func(m *Message) error {
		got = append(got, m.Params[0].Name)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{a, b}) {
		t.Errorf("names %.5q…, %v; want %.5q…", got, err, []string{a, b})
	}
}

// TestSpacesAnywhere: spaces wherever JSON allows them give the messages
// compact JSON gives, also when a message with spaces follows one without
// (the previous message's keys are compared as compact JSON has them).
func TestSpacesAnywhere(t *testing.T) {
	samples, err := os.ReadFile("../testdata/samples.json")
	if err != nil {
		t.Fatal(err)
	}
	var compact, spaced bytes.Buffer
	if err := json.Compact(&compact, samples); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&spaced, compact.Bytes(), " ", "\t "); err != nil {
		t.Fatal(err)
	}
	spacedBody := strings.ReplaceAll(spaced.String(), `": `, "\" :\t") // spaces before and after the colon
	d := NewDecoder()
	decode := func(body string) (out [][]string) {
		if err := d.Decode([]byte(body), func(m *Message) error {
			out = append(out, flat(m))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := decode(compact.String())
	for _, body := range []string{spacedBody, compact.String(), spacedBody, spaced.String(), spacedBody, spaced.String()} {
		if got := decode(body); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("with spaces:\n%q\nwant\n%q", got, want)
		}
	}
}
