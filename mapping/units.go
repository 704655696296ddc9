package mapping

import (
	"sort"
	"strings"
)

// unit says how a value in some unit becomes a gauge in the Prometheus base
// unit: multiply by factor, name it with suffix.
type unit struct {
	suffix string
	factor float64
}

// units are the units a rule may name. Prometheus asks for base units
// (seconds, meters, volts, ratio instead of percent) with the unit as the last
// part of the name; the conversion is made where it is exact and natural.
var units = map[string]unit{
	"seconds": {"seconds", 1}, "s": {"seconds", 1},
	"milliseconds": {"seconds", 0.001}, "ms": {"seconds", 0.001},
	"minutes": {"seconds", 60},
	"hours":   {"seconds", 3600}, "h": {"seconds", 3600},
	"meters": {"meters", 1}, "m": {"meters", 1},
	"km": {"meters", 1000}, "kilometers": {"meters", 1000},
	"km/h": {"meters_per_second", 1 / 3.6}, "m/s": {"meters_per_second", 1},
	"percent": {"ratio", 0.01}, "%": {"ratio", 0.01}, "ratio": {"ratio", 1},
	"volts": {"volts", 1}, "V": {"volts", 1},
	"millivolts": {"volts", 0.001}, "mV": {"volts", 0.001},
	"amperes": {"amperes", 1}, "A": {"amperes", 1},
	"ampere_hours": {"ampere_hours", 1}, "Ah": {"ampere_hours", 1},
	"celsius": {"celsius", 1},
	"degrees": {"degrees", 1},
	"liters":  {"liters", 1}, "l": {"liters", 1},
	"liters/h":     {"liters_per_hour", 1},
	"liters/100km": {"liters_per_100_kilometers", 1},
	"kPa":          {"pascals", 1000}, "bar": {"pascals", 100000}, "pascals": {"pascals", 1},
	"kg": {"grams", 1000}, "grams": {"grams", 1},
	"g/sec": {"grams_per_second", 1},
	"dBm":   {"dbm", 1},
	"rpm":   {"rpm", 1},
	"bytes": {"bytes", 1},
	"count": {"", 1},
}

// knownUnits lists the unit names for error messages.
func knownUnits() string {
	names := make([]string, 0, len(units))
	for n := range units {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// withSuffix appends "_"+suffix to name unless name already ends with it
// (can_engine_rpm stays can_engine_rpm).
func withSuffix(name, suffix string) string {
	if suffix == "" || name == suffix || strings.HasSuffix(name, "_"+suffix) {
		return name
	}
	return name + "_" + suffix
}

// UnitInfo describes a unit a rule may name, for documentation.
type UnitInfo struct {
	Name   string  // as written in a rule: "km/h"
	Suffix string  // of the gauge name: "meters_per_second"
	Factor float64 // gauge value = value * Factor
}

// Units lists the units a rule may name, sorted by name (bytewise).
func Units() []UnitInfo {
	out := make([]UnitInfo, 0, len(units))
	for n, u := range units {
		out = append(out, UnitInfo{n, u.suffix, u.factor})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
