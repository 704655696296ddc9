package mapping

import (
	"sort"
	"strings"
)

// unit says how a value in some unit becomes a gauge in the Prometheus base
// unit: multiply by mul, divide by div, name it with suffix. Dividing by
// whole numbers keeps decimal values exact where the decimal is: 94 % is
// 94 / 100 = 0.94, where 94 × 0.01 is 0.9400000000000001.
type unit struct {
	suffix   string
	mul, div float64
}

// convert turns a value in the unit into the base unit.
func (u unit) convert(v float64) float64 {
	if u.mul != 1 {
		v *= u.mul
	}
	if u.div != 1 {
		v /= u.div
	}
	return v
}

// identity is the unit of a rule that names none.
var identity = unit{mul: 1, div: 1}

// units are the units a rule may name. Prometheus asks for base units
// (seconds, meters, volts, ratio instead of percent) with the unit as the last
// part of the name; the conversion is made where it is exact and natural.
var units = map[string]unit{
	"seconds": {"seconds", 1, 1}, "s": {"seconds", 1, 1},
	"milliseconds": {"seconds", 1, 1000}, "ms": {"seconds", 1, 1000},
	"minutes": {"seconds", 60, 1},
	"hours":   {"seconds", 3600, 1}, "h": {"seconds", 3600, 1},
	"meters": {"meters", 1, 1}, "m": {"meters", 1, 1},
	"km": {"meters", 1000, 1}, "kilometers": {"meters", 1000, 1},
	"km/h": {"meters_per_second", 1000, 3600}, "m/s": {"meters_per_second", 1, 1},
	"percent": {"ratio", 1, 100}, "%": {"ratio", 1, 100}, "ratio": {"ratio", 1, 1},
	"volts": {"volts", 1, 1}, "V": {"volts", 1, 1},
	"millivolts": {"volts", 1, 1000}, "mV": {"volts", 1, 1000},
	"amperes": {"amperes", 1, 1}, "A": {"amperes", 1, 1},
	"ampere_hours": {"ampere_hours", 1, 1}, "Ah": {"ampere_hours", 1, 1},
	"celsius": {"celsius", 1, 1},
	"degrees": {"degrees", 1, 1},
	"liters":  {"liters", 1, 1}, "l": {"liters", 1, 1},
	"liters/h":     {"liters_per_hour", 1, 1},
	"liters/100km": {"liters_per_100_kilometers", 1, 1},
	"kPa":          {"pascals", 1000, 1}, "bar": {"pascals", 100000, 1}, "pascals": {"pascals", 1, 1},
	"kg": {"grams", 1000, 1}, "grams": {"grams", 1, 1},
	"g/sec": {"grams_per_second", 1, 1},
	"dBm":   {"dbm", 1, 1},
	"rpm":   {"rpm", 1, 1},
	"bytes": {"bytes", 1, 1},
	"count": {"", 1, 1},
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
	Factor float64 // gauge value = value * Factor (computed as a multiplication and a division)
}

// Units lists the units a rule may name, sorted by name (bytewise).
func Units() []UnitInfo {
	out := make([]UnitInfo, 0, len(units))
	for n, u := range units {
		out = append(out, UnitInfo{n, u.suffix, u.mul / u.div})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
