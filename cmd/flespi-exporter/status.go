package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/status"
)

// statusCmd prints what the status page says first, for a terminal: the
// image has no shell and no curl, so `docker compose exec exporter
// /flespi-exporter status` is how to read it without publishing the
// internal listener.
func statusCmd(base string, stdout, stderr io.Writer) int {
	resp, err := getOK(strings.TrimSuffix(base, "/")+"/api/status?limit=1", 10*time.Second, stderr)
	if err != nil {
		return 1
	}
	defer resp.Body.Close()
	var rep status.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		fmt.Fprintln(stderr, "reading the status:", err)
		return 1
	}
	printStatus(stdout, &rep)
	for _, a := range rep.Attention {
		if a.Level == "bad" {
			return 3 // something stops storing: scripts can tell
		}
	}
	return 0
}

func printStatus(w io.Writer, rep *status.Report) {
	fmt.Fprintf(w, "flespi-exporter %s, up since %s, config %s\n", rep.Version, rep.Started.Format(time.RFC3339), rep.ConfigFile)
	fmt.Fprintf(w, "devices: %d registered; gauge series %d of %d\n", rep.DevicesTotal, rep.GaugeSeries, rep.GaugeSeriesLimit)
	if i := rep.InfluxDB; i != nil {
		fmt.Fprintf(w, "influxdb: %s bucket %s, last write %s\n", i.URL, i.Bucket, when(i.LastWrite))
	}
	if m := rep.MQTT; m != nil {
		fmt.Fprintf(w, "mqtt: %s connected %v, %d received, %d acknowledged\n", m.URL, m.Connected, m.Received, m.Acknowledged)
	}
	if len(rep.Drains) > 0 {
		fmt.Fprintln(w, "fuel drains in the last 24 hours (device time):")
		for _, d := range rep.Drains {
			name := d.Ident
			if d.Name != "" {
				name = d.Name + " (" + d.Ident + ")"
			}
			fmt.Fprintf(w, "  %s  %.1f L  %s to %s\n", name, d.Litres, d.Start.Format(time.RFC3339), d.End.Format(time.RFC3339))
		}
	}
	if len(rep.Attention) == 0 {
		fmt.Fprintln(w, "nothing needs attention")
		return
	}
	fmt.Fprintln(w, "needs attention:")
	for _, a := range rep.Attention {
		fmt.Fprintf(w, "  [%s] %s\n        %s\n", a.Level, a.What, a.Fix)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
