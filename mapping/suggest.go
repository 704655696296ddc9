package mapping

import (
	"fmt"
	"strings"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// unitGuesses maps the last word of a flespi parameter name to the unit
// flespi's naming conventions usually mean by it.
var unitGuesses = []struct{ word, unit string }{
	{"voltage", "volts"}, {"temperature", "celsius"}, {"humidity", "percent"},
	{"level", "percent"}, {"speed", "km/h"}, {"mileage", "km"}, {"odometer", "km"},
	{"distance", "km"}, {"altitude", "meters"}, {"height", "meters"}, {"current", "amperes"},
	{"rpm", "rpm"}, {"weight", "kg"}, {"duration", "seconds"}, {"motorhours", "hours"},
	{"volume", "liters"}, {"rssi", "dBm"}, {"dbm", "dBm"}, {"direction", "degrees"},
	{"latitude", "degrees"}, {"longitude", "degrees"},
}

// SuggestRule writes a [[rule]] for a parameter no rule maps, from its name
// and the JSON type of a value: a glob with an index label for indexed
// families (ain.3, sensor.temperature.2), the type, and a unit guessed from
// flespi's naming conventions. It is a starting point to paste and edit.
func SuggestRule(name string, kind message.Kind) string {
	var b strings.Builder
	b.WriteString("[[rule]]\n")
	segs := strings.Split(name, ".")
	last := segs[len(segs)-1]
	indexed := len(segs) > 1 && isDigits(last)
	if indexed {
		fmt.Fprintf(&b, "match = %q\n", strings.Join(segs[:len(segs)-1], ".")+".*")
	} else {
		fmt.Fprintf(&b, "match = %q\n", name)
	}
	word := last
	if indexed {
		word = segs[len(segs)-2]
	}
	switch kind {
	case message.Bool:
		b.WriteString("type = \"boolean\"\n")
	case message.String:
		b.WriteString("type = \"string\"\n")
	case message.Array, message.Object:
		b.WriteString("type = \"json\"  # kept as JSON text; or drop = true\n")
	case message.Number:
		switch word {
		case "enum", "id", "seqnum", "code", "bitmask":
			b.WriteString("type = \"integer\"\nprometheus = false  # a code, not a measurement\n")
		default:
			for _, g := range unitGuesses {
				if word == g.word {
					fmt.Fprintf(&b, "unit = %q  # a guess from the name: check it\n", g.unit)
					break
				}
			}
		}
	}
	if indexed && kind == message.Number {
		b.WriteString("labels = { index = \"$1\" }\n")
	}
	return b.String()
}
