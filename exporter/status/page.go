package status

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/events"
)

// The page is a template and two static files, embedded: no external
// assets, readable on a phone. The device list comes a page at a time.
//
//go:embed page.html page.css page.js
var assets embed.FS

// Devices on a page: the first page is in the HTML, the others come from
// api/devices. maxDevicesLimit bounds what one request may ask.
const (
	pageDevices     = 100
	maxDevicesLimit = 10_000
)

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"age": age,
	// seconds writes a duration of seconds for people, as the script
	// does: "15m", "2h", "2d".
	"seconds": func(s float64) string { return span(time.Duration(s * float64(time.Second))) },
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).ParseFS(assets, "page.html"))

// pageReport is a Report with what only the HTML needs.
type pageReport struct {
	Report
	DevicesLimit int
}

// Routes adds the page and its data to mux, each handler wrapped by guard:
// GET / (the page), static/, api/status (JSON, with a page of the devices)
// and api/devices (a page of the devices).
func (p *Page) Routes(mux *http.ServeMux, guard func(http.Handler) http.Handler, log *slog.Logger) {
	mux.Handle("GET /{$}", guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		rep := pageReport{Report: p.report(devices.Query{Limit: pageDevices}), DevicesLimit: pageDevices}
		if err := pageTemplate.Execute(w, rep); err != nil {
			log.Warn("rendering the status page", "err", err)
		}
	})))
	mux.Handle("GET /static/", guard(http.StripPrefix("/static/", http.FileServerFS(assets))))
	mux.Handle("GET /api/status", guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := deviceQuery(r, 1000)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, p.report(q))
	})))
	mux.Handle("GET /api/devices", guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := deviceQuery(r, pageDevices)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		devs, total := p.Devices.Find(q)
		writeJSON(w, struct {
			Total   int                    `json:"total"`
			Devices []devices.Device       `json:"devices"`
			Events  map[string]events.Note `json:"events,omitempty"`
		}{total, devs, p.eventsOf(devs)})
	})))
}

// deviceQuery reads a page of devices from the URL: q (a filter on ident
// and name), sort, desc, offset and limit (limit at most maxDevicesLimit).
func deviceQuery(r *http.Request, limit int) (devices.Query, error) {
	v := r.URL.Query()
	q := devices.Query{Filter: v.Get("q"), Sort: v.Get("sort"), Limit: limit}
	if q.Sort != "" && !slices.Contains(devices.SortKeys, q.Sort) {
		return q, fmt.Errorf("sort=%s: sort by one of %v", q.Sort, devices.SortKeys)
	}
	q.Desc = v.Get("desc") == "true"
	q.Silent = v.Get("silent") == "true" || v.Get("silent") == "1"
	for name, dst := range map[string]*int{"offset": &q.Offset, "limit": &q.Limit} {
		if s := v.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%s=%s: give a whole number of devices", name, s)
			}
			*dst = n
		}
	}
	if q.Limit == 0 || q.Limit > maxDevicesLimit {
		q.Limit = maxDevicesLimit
	}
	return q, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// age writes how long ago t was, shortly: "42s", "7m", "3h", "12d".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return span(now.Sub(t))
}
