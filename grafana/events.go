package grafana

// The fleet events' panels of a generated dashboard: the trips and the
// refuels and drains of the chosen devices (InfluxDB's flespi_events),
// and refuels and drains as annotations. A dashboard generated with the
// events off ([events] enabled = false) has none of them.

// eventsSection is the row of the events' panels.
const eventsSection = "trips and fuel"

// eventPanels are the events' panels, for the devices of the $ident
// variable.
func eventPanels(ds sources) []map[string]any {
	table := func(title, description, q string, units map[string]string) map[string]any {
		var overrides []any
		for _, name := range []string{"Time", "end", "duration", "km", "fuel used", "litres", "top speed"} {
			if unit, ok := units[name]; ok {
				overrides = append(overrides, map[string]any{
					"matcher":    map[string]any{"id": "byName", "options": name},
					"properties": []any{map[string]any{"id": "unit", "value": unit}},
				})
			}
		}
		return map[string]any{
			"type": "table", "title": title, "description": description, "datasource": ds.influx,
			"fieldConfig": map[string]any{"defaults": map[string]any{}, "overrides": overrides},
			"targets":     []any{influxTarget(ds, q, "table", nil)},
		}
	}
	return []map[string]any{
		table("Trips", "Each trip: start, end, duration, kilometres, fuel used, top speed (flespi_events, event = 'trip'; docs/events.md).",
			`SELECT "end_time" * 1000 AS "end", "duration_s" AS "duration", "distance_m" / 1000 AS "km", "fuel_l" AS "fuel used", "max_speed_kmh" AS "top speed" FROM "flespi_events" WHERE "event" = 'trip' AND "ident" =~ /^$ident$/ AND $timeFilter GROUP BY "ident", "device_name"`,
			map[string]string{"Time": "dateTimeAsIso", "end": "dateTimeAsIso", "duration": "s", "km": "lengthkm", "fuel used": "litre", "top speed": "velocitykmh"}),
		table("Refuels and drains", "Refuels, and drains while parked, each once the level held over [events] fuel_window (flespi_events, event = 'refuel' or 'drain').",
			`SELECT "end_time" * 1000 AS "end", "fuel_l" AS "litres" FROM "flespi_events" WHERE "event" =~ /^(refuel|drain)$/ AND "ident" =~ /^$ident$/ AND $timeFilter GROUP BY "event", "ident", "device_name"`,
			map[string]string{"Time": "dateTimeAsIso", "end": "dateTimeAsIso", "litres": "litre"}),
	}
}

// eventAnnotations mark refuels and drains on the time series panels.
func eventAnnotations(ds sources) []any {
	mark := func(name, event, color string) map[string]any {
		return map[string]any{
			"name": name, "datasource": ds.influx, "enable": true, "iconColor": color,
			"query":      `SELECT "fuel_l" AS "text" FROM "flespi_events" WHERE "event" = '` + event + `' AND "ident" =~ /^$ident$/ AND $timeFilter`,
			"textColumn": "text", "tagsColumn": "", "titleColumn": "",
		}
	}
	return []any{mark("Fuel drains", "drain", "red"), mark("Refuels", "refuel", "green")}
}
