package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
	"github.com/flespi-exporter/flespi-exporter/message"
)

// noEnv is an environment with nothing set.
func noEnv(string) (string, bool) { return "", false }

// TestInvalidConfigs checks the exact message for each broken file in
// testdata: the file, the line, the key and what was expected.
func TestInvalidConfigs(t *testing.T) {
	tests := map[string][]string{
		"invalid-unknown-keys.toml": {
			`:3: http.lisen: unknown key "lisen" in [http]; valid keys: allow_cidrs, auth_header, internal_hosts, internal_listen, listen, max_body_size, max_in_flight, max_in_flight_bytes, paths, read_timeout, tls_cert, tls_key, tokens`,
			`:5: influx: unknown key "influx" at the top level; valid keys: data, events, http, influxdb, log, mapping, mqtt, prometheus, remote_write, rule, rule_files, silence`,
			`:13: [[rule]] #2 unti: unknown key "unti" in [[rule]]; valid keys: alert, drop, enum, enum_default, field, gauge, help, influx, labels, match, measurement, offset, prometheus, regex, scale, tag, tags, ttl, type, unit`,
		},
		"invalid-values.toml": {
			`:2: http.listen: "9883" is not host:port (":9883", "127.0.0.1:9883")`,
			`:3: http.paths: "flespi" must start with '/' and not be the metrics path or under /-/`,
			`:4: http.allow_cidrs: "185.213.2.0/33" is not a network like 185.213.2.0/24`,
			`:5: http.tls_cert: tls_cert and tls_key go together: give both or neither`,
			`:8: influxdb.url: "localhost:8086" must start with http:// or https://`,
			`:9: influxdb.batch_size: must be at least 1`,
			`:12: log.level: want debug, info, warn or error; got "verbose"`,
			`:15: silence.floor: 30s is too short: a device reporting every minute would page between two messages; use minutes, like "15m"`,
			`:22: [[silence.device]] #2 ident: "35[209" is not a glob pattern: syntax error in pattern`,
			`:23: [[silence.device]] #2 after: must be positive, like "6h"`,
		},
		"invalid-events.toml": {
			`:11: [[events.device]] #2 speed_lmit: unknown key "speed_lmit" in [[events.device]]; valid keys: drain_min, drain_min_percent, fuel_window, ident, idle_min, ignition_off_min, max_gap, max_speed, min_satellites, moving_speed, name, overspeed_min, refuel_min, refuel_min_percent, speed_limit, stop_min_duration, tank_capacity, trip_min_distance, trip_min_duration`,
			`:2: events.reorder_window: 3h0m0s: want between 0 and 1h, like "2m"`,
			`:3: events.speed_limit: 400 km/h is not below max_speed (300 km/h), the fastest a GNSS jump may imply`,
			`:7: [[events.device]] #1 tank_capacity: must not be negative (0: off)`,
			`:10: [[events.device]] #2 ident: "35[20" is not a glob pattern: syntax error in pattern`,
		},
		"invalid-type.toml": {`:9: [[rule]] #2 scale: is a string; want a number`},
		"invalid-types.toml": {
			`:2: http.listen: is an integer; want a string`,
			`:3: http.max_in_flight: is a string; want an integer`,
			`:10: [[rule]] #2 scale: is a string; want a number`,
			`:13: mapping.tags: is a string; want a list`,
		},
		"invalid-ttl.toml":      {`:7: [[rule]] #2 ttl: want a positive duration like "90s", "15m", "2h", or "never"; got "soon"`},
		"invalid-duration.toml": {`:2: http.read_timeout: want a duration like "30s", "5m" or "90d"; got "30 seconds"`},
		"invalid-size.toml":     {`:3: http.max_body_size: want a size like "32MiB", "512KB" or a number of bytes; got "lots"`},
		"invalid-syntax.toml":   {`:3: http.paths: expected a comma (',') or array terminator (']'), but got end of file`},
		"invalid-rules.toml": {
			`:2: mapping.unmatched: want "drop" or "raw", got "keep"`,
			`:10: [[rule]] #2 regex: 'can\.(engine' is not a valid regular expression: missing closing )`,
			`:14: [[rule]] #3 labels.bad-label: "bad-label" is not a valid Prometheus label name (letters, digits, '_'; not starting with "__")`,
		},
		"invalid-env.toml": {
			`:2: environment variable FLESPI_TEST_UNSET_VARIABLE is not set (write ${FLESPI_TEST_UNSET_VARIABLE:-default} to make it optional)`,
			`:4: environment variable FLESPI_TEST_ALSO_UNSET is not set (write ${FLESPI_TEST_ALSO_UNSET:-default} to make it optional)`,
			`:4: "${" must start ${NAME} or ${NAME:-default} (write $${ for a literal ${)`,
		},
	}
	files, _ := filepath.Glob("testdata/invalid-*.toml")
	if len(files) != len(tests) {
		t.Errorf("%d invalid-*.toml files, %d test cases", len(files), len(tests))
	}
	for name, want := range tests {
		path := filepath.Join("testdata", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(path, string(data), noEnv)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a config.Error", name, err)
			continue
		}
		for i := range want {
			want[i] = path + want[i]
		}
		if got := strings.Join(ce.Problems, "\n"); got != strings.Join(want, "\n") {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, strings.Join(want, "\n"))
		}
	}
}

func TestWarningsHaveLines(t *testing.T) {
	cfg, err := Load("testdata/warnings.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`testdata/warnings.toml:2: mapping.tags: "position.latitude" changes with almost every message: as a tag it makes a new series each time; keep it a field`,
		`testdata/warnings.toml:8: [[rule]] #2 match: never matches: rule #1 (match = "can.*") above it matches every name this one does; the first match wins`,
	}
	if !reflect.DeepEqual(cfg.Warnings, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(cfg.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// TestDefaultConfig loads the repository's config.toml as a fresh clone runs
// it: no environment, no warnings, the documented defaults.
func TestDefaultConfig(t *testing.T) {
	data, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("config.toml", string(data), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("config.toml has warnings:\n%s", strings.Join(cfg.Warnings, "\n"))
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.HTTP.Listen, ":9883"},
		{"paths", cfg.HTTP.Paths, []string{"/flespi"}},
		{"tokens", cfg.HTTP.Tokens, []string{}},
		{"influx url", cfg.InfluxDB.URL, ""},
		{"max body", cfg.HTTP.MaxBodySize, Size(32 << 20)},
		{"read timeout", cfg.HTTP.ReadTimeout, Duration(30 * time.Second)},
		{"gauge ttl", cfg.Mapping.Config().GaugeTTL.Duration, 24 * time.Hour},
		{"tags", cfg.Mapping.Config().Tags, []string{"device.name"}},
		{"internal listener", cfg.HTTP.InternalListen, "127.0.0.1:9884"},
		{"data dir", cfg.Data.Dir, "data"},
		{"dead letters kept in the data dir", cfg.InfluxDB.DeadLetterFile, filepath.Join("data", "dead-letters.jsonl")},
		{"forget devices after", cfg.Data.ForgetDevicesAfter, Duration(90 * 24 * time.Hour)},
		{"max in flight bytes", cfg.HTTP.MaxInFlightBytes, Size(128 << 20)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if n := len(cfg.Mapping.Rules()); n < 50 {
		t.Errorf("config.toml has %d rules; it should cover the common flespi parameters", n)
	}
}

// TestDefaultRulesCoverParameters checks that config.toml maps every
// parameter of ../shared/flespi/parameters.tsv (kept in testdata) that a
// fleet dashboard needs: nothing of it is left unmapped.
func TestDefaultRulesCoverParameters(t *testing.T) {
	data, err := os.ReadFile("../testdata/parameters.tsv")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	body.WriteString(`{"ident":"x"`)
	for _, line := range strings.Split(string(data), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		if name == "" || strings.HasPrefix(line, "#") || name == "name" || name == "ident" {
			continue
		}
		for _, n := range expandTSVName(name) {
			body.WriteString(`,"` + n + `":1`)
		}
	}
	body.WriteString("}")
	unmapped := mapUnmapped(t, cfg.Mapping, body.String())
	// custom.* is the user's to map.
	if len(unmapped) != 1 || unmapped[0] != "custom.x" {
		t.Errorf("parameters.tsv names that config.toml leaves unmapped: %v", unmapped)
	}
}

// expandTSVName turns "ain(.N)" into ain.1, "custom.*" into custom.x, and
// "gisgraphy.address(.city/.countryCode)" into each name.
func expandTSVName(name string) []string {
	name = strings.ReplaceAll(name, "*", "x")
	base, alts, ok := strings.Cut(name, "(")
	if !ok {
		return []string{name}
	}
	alts = strings.TrimSuffix(alts, ")")
	if alts == ".N" {
		return []string{base + ".1"}
	}
	out := []string{base}
	for _, a := range strings.Split(alts, "/") {
		out = append(out, base+a)
	}
	return out
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"URL": "http://influx:8086", "EMPTY": "", "TRICKY": "a\"b\\c\nd"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	text := `[influxdb]
url = "${URL}"
token = "${TRICKY}"
org = "${EMPTY:-fallback}"
bucket = "${UNSET:-db/autogen}"
[http]
tokens = ["${EMPTY}", "$${literal}"]
`
	cfg, err := Parse("env.toml", text, lookup)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.InfluxDB.URL, cfg.InfluxDB.Token, cfg.InfluxDB.Org, cfg.InfluxDB.Bucket, strings.Join(cfg.HTTP.Tokens, "|")}
	want := []string{"http://influx:8086", "a\"b\\c\nd", "fallback", "db/autogen", "${literal}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSizeAndDuration(t *testing.T) {
	sizes := map[string]Size{"32MiB": 32 << 20, "512KB": 512000, "1048576": 1 << 20, "1 GiB": 1 << 30, "10B": 10}
	for text, want := range sizes {
		var s Size
		if err := s.UnmarshalText([]byte(text)); err != nil || s != want {
			t.Errorf("Size(%q) = %d, %v; want %d", text, s, err, want)
		}
	}
	for _, bad := range []string{"", "-1MiB", "1.5MiB", "MiB", "1TB"} {
		var s Size
		if s.UnmarshalText([]byte(bad)) == nil {
			t.Errorf("Size(%q) accepted", bad)
		}
	}
	var ttl mapping.TTL
	if err := ttl.UnmarshalText([]byte("never")); err != nil || !ttl.Never {
		t.Errorf("TTL never: %v %+v", err, ttl)
	}
	if ttl.UnmarshalText([]byte("-5m")) == nil {
		t.Error("TTL -5m accepted")
	}
}

// mapUnmapped applies m to one message and returns the unmapped names.
func mapUnmapped(t *testing.T, m *mapping.Mapping, body string) []string {
	t.Helper()
	var out []string
	var r mapping.Result
	err := message.NewDecoder().Decode([]byte(body), func(msg *message.Message) error {
		if err := m.Apply(msg, time.Now(), &r); err != nil {
			return err
		}
		out = append(out, r.Unmapped...)
		for _, s := range r.Skipped {
			t.Errorf("skipped %s: %s", s.Param, s.Reason)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeadLettersOff: "off" keeps no dead-letter file; a path is kept as given.
func TestDeadLettersOff(t *testing.T) {
	for value, want := range map[string]string{"off": "", "/var/dead.jsonl": "/var/dead.jsonl"} {
		cfg, err := Parse("c.toml", "[influxdb]\ndead_letter_file = \""+value+"\"\n", noEnv)
		if err != nil || cfg.InfluxDB.DeadLetterFile != want {
			t.Errorf("%q: %q %v, want %q", value, cfg.InfluxDB.DeadLetterFile, err, want)
		}
	}
}

// TestMQTTSection: the [mqtt] section is checked only with a token, and
// then every key names its problem.
func TestMQTTSection(t *testing.T) {
	if _, err := Parse("c.toml", "[mqtt]\nurl = \"nonsense\"\n", noEnv); err != nil {
		t.Errorf("without a token the section is off: %v", err)
	}
	_, err := Parse("c.toml", "[mqtt]\ntoken = \"T\"\nurl = \"http://x\"\nclient_id = \"\"\ntopics = []\nbatch_size = 2000\nreceive_maximum = 1000\nshare_group = \"a/b\"\n", noEnv)
	want := []string{
		`c.toml:3: mqtt.url: "http://x" is not a broker URL like "mqtts://mqtt.flespi.io:8883"`,
		`c.toml:4: mqtt.client_id: must name the session (keep it across restarts), like "flespi-exporter"`,
		`c.toml:5: mqtt.topics: needs at least one topic, like ["flespi/message/gw/devices/+"]`,
		`c.toml:6: mqtt.batch_size: must be between 1 and mqtt.receive_maximum (1000): a batch is acknowledged whole`,
		`c.toml:8: mqtt.share_group: "a/b" cannot hold '/', '+' or '#'`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("want %q in\n%v", w, err)
		}
	}
}

// TestMQTTSessionAndCA: a session expiry of 0 (no persistent session) and
// a CA file that cannot be read or holds no certificate are errors, at
// check and at start, not a log line and a silent fallback.
func TestMQTTSessionAndCA(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := "[mqtt]\ntoken = \"T\"\nsession_expiry = \"0s\"\nca_file = \"" + notPEM + "\"\n"
	_, err := Parse("c.toml", text, noEnv)
	for _, w := range []string{
		`c.toml:3: mqtt.session_expiry: 0 turns the persistent session off`,
		`c.toml:4: mqtt.ca_file: ` + notPEM + ` holds no PEM certificate`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("want %q in\n%v", w, err)
		}
	}
	_, err = Parse("c.toml", "[mqtt]\ntoken = \"T\"\nca_file = \"/nonexistent/ca.pem\"\n", noEnv)
	if err == nil || !strings.Contains(err.Error(), "c.toml:3: mqtt.ca_file: open /nonexistent/ca.pem: no such file or directory") {
		t.Errorf("a missing CA file: %v", err)
	}
}
