// Package mapping holds the rule language that turns flespi message
// parameters into InfluxDB points and Prometheus gauge samples.
//
// Rules are written in TOML (see Config and Rule), checked and compiled once by
// Compile into an immutable *Mapping, and applied to decoded messages by
// Mapping.Apply. The package is pure: it produces neutral values (Point,
// Sample) and line protocol text, and never talks to a network or to the
// InfluxDB and Prometheus client libraries.
package mapping

import (
	"fmt"
	"strings"
	"time"
)

// Config is the [mapping] section of the configuration file.
type Config struct {
	// Measurement is the InfluxDB measurement of fields whose rule names none.
	Measurement string `toml:"measurement"`
	// Namespace prefixes every gauge name: "flespi" gives flespi_position_speed_...
	Namespace string `toml:"namespace"`
	// Unmatched says what happens to parameters no rule matches: "drop", or
	// "raw" to keep numbers and booleans as float fields named after the
	// parameter (strings, arrays and objects need a rule).
	Unmatched string `toml:"unmatched"`
	// Tags are message parameters that become InfluxDB tags and Prometheus
	// labels on everything the message produces, besides ident which always
	// is one. "device.name" becomes the tag and label device_name.
	Tags []string `toml:"tags"`
	// Time lists where the point time comes from, first found wins: parameter
	// names holding Unix seconds, and "received" for the time the exporter got
	// the message.
	Time []string `toml:"time"`
	// GaugeTTL is how long a gauge series lives without updates, unless its
	// rule says otherwise; "never" keeps series forever.
	GaugeTTL TTL `toml:"gauge_ttl"`
	// MaxFuture is how far past its arrival a message's device time may be
	// for the message to move its device's gauges: one dated in 2100 is
	// still stored, but must not freeze the gauges (newest wins) or the
	// last-message time. "never" lets any time through.
	MaxFuture TTL `toml:"max_future"`
}

// Rule is one [[rule]] of the configuration file. The zero values of the
// optional keys are the documented defaults, so a minimal rule is one line:
// match = "position.speed".
type Rule struct {
	// Match is an exact parameter name or a glob in which '*' stands for
	// one dot-separated segment or part of one ("ain.*", "can.*.temperature",
	// "sensor*.value"), and "**" for one or more whole segments.
	Match string `toml:"match"`
	// Regex is an anchored regular expression (RE2) matched against the
	// whole parameter name; use it instead of Match.
	Regex string `toml:"regex"`
	// Drop discards what the rule matches: no field, no gauge, not unmapped.
	Drop bool `toml:"drop"`

	// Type is the value type: "float" (default), "integer", "boolean",
	// "string", or "json" (arrays and objects kept as JSON text).
	Type string `toml:"type"`
	// Unit is the unit of the (scaled) value, e.g. "volts", "km/h",
	// "percent". Gauges are converted to the Prometheus base unit and named
	// with its suffix (km/h becomes _meters_per_second).
	Unit string `toml:"unit"`
	// Scale and Offset transform numbers: value*scale + offset, for both
	// outputs. Scale defaults to 1.
	Scale  *float64 `toml:"scale"`
	Offset float64  `toml:"offset"`
	// Enum maps string values to numbers; EnumDefault is used for strings
	// not in the table (without it they are skipped).
	Enum        map[string]float64 `toml:"enum"`
	EnumDefault *float64           `toml:"enum_default"`

	// Influx enables the InfluxDB output of the rule (default true).
	Influx *bool `toml:"influx"`
	// Field names the InfluxDB field; a template with $1, ${2}, ${name}
	// (captures) and $0 (the parameter name, the default).
	Field string `toml:"field"`
	// Measurement overrides [mapping].measurement for this rule's fields.
	Measurement string `toml:"measurement"`
	// Tag, when set, stores the value as this InfluxDB tag on the message's
	// point instead of as a field.
	Tag string `toml:"tag"`
	// Tags adds InfluxDB tags (templates) to the point of the rule's fields:
	// tags = { sensor = "$1" } puts each sensor in a series of its own.
	Tags map[string]string `toml:"tags"`

	// Prometheus enables the gauge (default true for float, integer and
	// boolean values; strings never become gauges).
	Prometheus *bool `toml:"prometheus"`
	// Gauge names the gauge, without the namespace and unit suffix, which
	// are added. A template like Field. Defaults to the parameter name, or
	// with Labels to the pattern without its wildcards.
	Gauge string `toml:"gauge"`
	// Help is the gauge's help text.
	Help string `toml:"help"`
	// Labels adds Prometheus labels (templates): labels = { sensor = "$1" }.
	Labels map[string]string `toml:"labels"`
	// TTL overrides [mapping].gauge_ttl for this rule's gauges.
	TTL TTL `toml:"ttl"`

	// Alerts say when the rule's values are worth an alert: [[rule.alert]]
	// (see AlertRule).
	Alerts []AlertRule `toml:"alert"`
	// Own marks a rule of the operator's own rule files (rule_files), not
	// of the shipped configuration: where it takes a parameter a shipped
	// rule has an alert on, that alert follows it or steps aside.
	Own bool `toml:"-"`
}

// DefaultConfig returns the [mapping] defaults that a file's values are
// decoded over.
func DefaultConfig() Config {
	return Config{
		Measurement: "flespi",
		Namespace:   "flespi",
		Unmatched:   UnmatchedDrop,
		Time:        []string{"timestamp", "server.timestamp", TimeReceived},
		GaugeTTL:    TTL{Duration: time.Hour, set: true},
		MaxFuture:   TTL{Duration: time.Hour, set: true},
	}
}

// Values of Config.Unmatched and Config.Time.
const (
	UnmatchedDrop = "drop"
	UnmatchedRaw  = "raw"
	TimeReceived  = "received"
)

// TTL is a duration in TOML ("90s", "15m", "2h") or "never".
type TTL struct {
	Duration time.Duration // 0 with Never
	Never    bool
	set      bool
}

// UnmarshalText reads "never" or a Go duration.
func (t *TTL) UnmarshalText(b []byte) error {
	if string(b) == "never" {
		*t = TTL{Never: true, set: true}
		return nil
	}
	d, err := time.ParseDuration(string(b))
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration like \"90s\", \"15m\", \"2h\", or \"never\"; got %q", b)
	}
	*t = TTL{Duration: d, set: true}
	return nil
}

// IsSet reports whether the TTL was given.
func (t TTL) IsSet() bool { return t.set }

func (t TTL) String() string {
	switch {
	case t.Never:
		return "never"
	case !t.set:
		return "unset"
	}
	s := t.Duration.String() // "24h0m0s" reads better as "24h"
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}
