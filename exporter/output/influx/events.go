package influx

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/fleet"
	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// EventsMeasurement is the measurement of the fleet events.
const EventsMeasurement = "flespi_events"

// StoreEvents writes fleet events as points of flespi_events: tagged by
// the device's tags and event, at the event's start. Writing one again
// overwrites it (same time and tags): a resent batch stores it once.
func (s *Sink) StoreEvents(ctx context.Context, recs []fleet.Record, _ []*mapping.Gauge) (pipeline.Stored, error) {
	var l Lines
	for i := range recs {
		p := EventPoint(&recs[i])
		l.AddMessage(eventJSON(&recs[i])) // what a dead letter keeps
		l.Text = AppendPoint(l.Text, &p)
		l.EndLine()
	}
	w, err := s.Write(ctx, &l)
	return pipeline.Stored{Unit: "points", Stored: w.Points, Refused: w.DeadLettered}, err
}

// EventPoint is the point of a fleet event. end_time is Unix seconds
// ("end" is a keyword of InfluxQL).
func EventPoint(r *fleet.Record) mapping.Point {
	e := &r.Event
	tags := make([]mapping.Tag, 0, len(r.Tags)+1)
	added := false
	for _, t := range r.Tags {
		if !added && t.Key > "event" {
			tags, added = append(tags, mapping.Tag{Key: "event", Value: e.Kind.String()}), true
		}
		if t.Key != "event" {
			tags = append(tags, t)
		}
	}
	if !added {
		tags = append(tags, mapping.Tag{Key: "event", Value: e.Kind.String()})
	}
	fields := []mapping.Field{
		float("end_time", float64(e.End)/1000),
		float("duration_s", e.Duration()),
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"distance_m", e.DistanceM}, {"fuel_l", e.FuelL}, {"max_speed_kmh", e.MaxSpeed},
		{"start_lat", e.StartLat}, {"start_lon", e.StartLon}, {"end_lat", e.EndLat}, {"end_lon", e.EndLon}} {
		if !math.IsNaN(f.v) && !math.IsInf(f.v, 0) {
			fields = append(fields, float(f.key, f.v))
		}
	}
	return mapping.Point{Measurement: EventsMeasurement, Tags: tags, Fields: fields, Time: time.UnixMilli(e.Start)}
}

func float(key string, v float64) mapping.Field {
	return mapping.Field{Key: key, Value: mapping.Value{Type: mapping.TypeFloat, Float: v}}
}

// eventJSON is the event as a dead letter shows it.
func eventJSON(r *fleet.Record) []byte {
	b, _ := json.Marshal(map[string]any{"ident": r.Ident, "event": r.Event.Kind.String(), "start": r.Event.Start, "end": r.Event.End})
	return b
}
