package exporter

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/influx"
	"github.com/flespi-exporter/flespi-exporter/exporter/mqtt"
)

// statusReport is the status page's data, and the JSON of /api/status.
type statusReport struct {
	Version          string           `json:"version"`
	ConfigFile       string           `json:"config_file"`
	Started          time.Time        `json:"started"`
	Now              time.Time        `json:"now"`
	Devices          []deviceStatus   `json:"devices"`
	DevicesLimit     int              `json:"devices_limit"`
	UntrackedDevices int64            `json:"untracked_device_messages"`
	Unmapped         []statusUnmapped `json:"unmapped"`
	Suggestions      []suggestion     `json:"suggestions"`
	UnmappedLimit    int              `json:"unmapped_limit"`
	UntrackedNames   int64            `json:"untracked_unmapped_values"`
	Rules            []statusRule     `json:"rules"`
	InfluxDB         *influxStatus    `json:"influxdb"` // null without InfluxDB
	MQTT             *mqtt.State      `json:"mqtt"`     // null without the MQTT source
	GaugeSeries      int              `json:"gauge_series"`
	GaugeSeriesLimit int              `json:"gauge_series_limit"`
}

type influxStatus struct {
	URL    string `json:"url"`
	Bucket string `json:"bucket"`
	influx.State
}

func (s *Server) statusReport() statusReport {
	m := s.pipe.Mapping()
	devices, unmapped, rules, untrackedDevices, untrackedNames := s.status.snapshot(m)
	devices = s.withRegistered(devices)
	suggestions := groupSuggestions(unmapped)
	rep := statusReport{
		Version: s.version, ConfigFile: s.cfg.File, Started: s.started, Now: s.now(),
		Devices: devices, DevicesLimit: maxStatusDevices, UntrackedDevices: untrackedDevices,
		Unmapped: unmapped, Suggestions: suggestions, UnmappedLimit: maxUnmappedNames, UntrackedNames: untrackedNames,
		Rules: rules, GaugeSeries: s.gauges.Count(), GaugeSeriesLimit: s.cfg.Prometheus.MaxSeries,
	}
	if s.influx != nil {
		rep.InfluxDB = &influxStatus{URL: s.cfg.InfluxDB.URL, Bucket: s.cfg.InfluxDB.Bucket, State: s.influx.Status()}
	}
	if s.mqtt != nil {
		st := s.mqtt.Status()
		rep.MQTT = &st
	}
	return rep
}

func (s *Server) statusJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.statusReport())
}

func (s *Server) statusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, s.statusReport()); err != nil {
		s.log.Warn("rendering the status page", "err", err)
	}
}

// age writes how long ago t was, shortly: "42s", "7m", "3h", "12d".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"age":     age,
	"seconds": func(now, t time.Time) int64 { return int64(now.Sub(t).Seconds()) },
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(statusHTML))

// statusHTML is the page: one file, no external assets, readable on a
// phone; a few lines of script sort the tables and filter the devices.
const statusHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flespi-exporter</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;padding:12px;max-width:1200px;color:#222}
h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:24px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:140px}
.card b{display:block;font-size:20px}.wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{cursor:pointer;user-select:none;background:#fafafa;white-space:nowrap}th:after{content:" \2195";color:#bbb}
td.cut{max-width:16em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}pre{margin:0;font-size:12px;background:#f6f6f6;padding:4px 6px;border-radius:4px}
input{font:inherit;padding:6px 8px;width:100%;max-width:360px;box-sizing:border-box;margin-bottom:8px}
.warn{color:#b45309}.bad{color:#b91c1c}.muted{color:#777}code{font-size:12px}
</style></head><body>
<h1>flespi-exporter <span class="muted">{{.Version}}</span></h1>
<div class="cards">
<div class="card">devices<b id="device-count">{{len .Devices}}</b></div>
<div class="card">unmapped parameters<b id="unmapped-count">{{len .Unmapped}}</b></div>
<div class="card">gauge series<b>{{.GaugeSeries}}</b><span class="muted">of {{.GaugeSeriesLimit}}</span></div>
{{with .InfluxDB}}<div class="card">InfluxDB<b>{{if .LastError}}{{if .LastErrorTime.After .LastWrite}}<span class="bad">failing</span>{{else}}ok{{end}}{{else}}ok{{end}}</b>
<span class="muted">last write {{rfc3339 .LastWrite}}</span></div>
<div class="card">dead letters<b{{if .DeadLetters}} class="warn"{{end}}>{{.DeadLetters}}</b></div>{{else}}
<div class="card">InfluxDB<b class="muted">none</b><span class="muted">Prometheus only</span></div>{{end}}
{{with .MQTT}}<div class="card" id="mqtt-card">MQTT<b>{{if .Connected}}connected{{else}}<span class="bad">disconnected</span>{{end}}</b>
<span class="muted">{{.Received}} received, {{.Acknowledged}} acknowledged</span></div>{{end}}
</div>
{{with .MQTT}}{{if and (not .Connected) .LastError}}<p class="bad" id="mqtt-error">MQTT: {{.LastError}}</p>{{end}}{{end}}

<h2>Devices</h2>
<input id="filter" type="search" placeholder="Filter by ident or name" aria-label="Filter devices">
<div class="wrap"><table id="devices" class="sortable"><thead><tr>
<th>ident</th><th>name</th><th data-type="n">last message</th><th data-type="n">last received</th>
<th data-type="n">messages</th><th data-type="n">mapped</th><th data-type="n">unmapped</th><th>source</th><th></th></tr></thead><tbody>
{{range .Devices}}<tr data-filter="{{.Ident}} {{.Name}}"><td class="cut" title="{{.Ident}}">{{.Ident}}</td><td class="cut" title="{{.Name}}">{{.Name}}</td>
<td class="n" data-v="{{seconds $.Now .LastMessage}}" title="{{rfc3339 .LastMessage}}">{{age $.Now .LastMessage}}</td>
<td class="n" data-v="{{seconds $.Now .LastReceived}}" title="{{rfc3339 .LastReceived}}">{{age $.Now .LastReceived}}</td>
<td class="n">{{.Messages}}</td><td class="n">{{.Mapped}}</td><td class="n">{{.Unmapped}}</td><td>{{.Source}}</td>
<td><button class="forget" data-ident="{{.Ident}}" title="Remove the device from the registry and /metrics until its next message">forget</button></td></tr>
{{end}}</tbody></table></div>
{{if .UntrackedDevices}}<p class="warn">{{.UntrackedDevices}} messages came from devices past the first {{.DevicesLimit}}, which are not listed.</p>{{end}}

{{with .InfluxDB}}{{if .Conflicts}}<h2>Field type conflicts</h2>
<p class="warn">InfluxDB refuses these values: it holds their field with another type than the rules write
(a rule's type changed). The values are kept in the dead-letter file; the rest of each point is stored.</p>
<div class="wrap"><table id="conflicts"><thead><tr><th>field</th><th>rules write</th><th>InfluxDB holds</th>
<th data-type="n">values refused</th><th>fix</th></tr></thead><tbody>
{{range .Conflicts}}<tr><td><code>{{.Measurement}}.{{.Field}}</code></td><td>{{.Sent}}</td><td>{{.Held}}</td><td class="n">{{.Values}}</td><td>{{.Fix}}</td></tr>{{end}}
</tbody></table></div>{{end}}{{end}}

<h2>Unmapped parameters</h2>
<p class="muted">Parameters that no rule maps: paste a suggestion into config.toml, check it with
<code>flespi-exporter check</code>, and reload (SIGHUP or POST /-/reload).</p>
<div class="wrap"><table id="unmapped" class="sortable"><thead><tr>
<th>parameter</th><th data-type="n">devices</th><th data-type="n">messages</th><th>example</th><th>type</th></tr></thead><tbody>
{{range .Unmapped}}<tr><td><code>{{.Name}}</code></td><td class="n">{{.Devices}}{{if .DevicesMore}}+{{end}}</td><td class="n">{{.Messages}}</td>
<td><code>{{.Example}}</code></td><td>{{.Type}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">Every parameter received so far has a rule.</td></tr>{{end}}</tbody></table></div>
{{if .Suggestions}}<h3>Suggested rules</h3>
<div class="wrap"><table id="suggestions"><thead><tr><th>rule</th><th>maps</th></tr></thead><tbody>
{{range .Suggestions}}<tr><td><pre>{{.Rule}}</pre></td><td>{{range $i, $n := .Names}}{{if $i}}, {{end}}<code>{{$n}}</code>{{end}}</td></tr>{{end}}
</tbody></table></div>{{end}}
{{if .UntrackedNames}}<p class="warn">{{.UntrackedNames}} values had names past the first {{.UnmappedLimit}} unmapped names, which are not listed.</p>{{end}}

<h2>Rules</h2>
<div class="wrap"><table id="rules" class="sortable"><thead><tr>
<th data-type="n">#</th><th>rule</th><th>makes</th><th data-type="n">parameters matched</th></tr></thead><tbody>
{{range .Rules}}<tr><td class="n">{{.Index}}</td><td><code>{{.Pattern}}</code></td><td>{{.Output}}</td>
<td class="n{{if not .Hits}} muted{{end}}">{{.Hits}}</td></tr>{{end}}</tbody></table></div>

<h2>Exporter</h2>
<table><tbody>
<tr><td>version</td><td>{{.Version}}</td></tr>
<tr><td>configuration</td><td>{{.ConfigFile}}</td></tr>
<tr><td>started</td><td>{{rfc3339 .Started}}</td></tr>
{{with .InfluxDB}}<tr><td>InfluxDB</td><td>{{.URL}} bucket {{.Bucket}}</td></tr>
<tr><td>last write</td><td>{{rfc3339 .LastWrite}}</td></tr>
<tr><td>last error</td><td>{{if .LastError}}<span class="bad">{{rfc3339 .LastErrorTime}}: {{.LastError}}</span>{{else}}none{{end}}</td></tr>{{end}}
{{with .MQTT}}<tr><td>MQTT broker</td><td>{{.URL}} client id {{.ClientID}}, topics {{range $i, $t := .Topics}}{{if $i}}, {{end}}<code>{{$t}}</code>{{end}}</td></tr>
<tr><td>MQTT connection</td><td>{{if .Connected}}connected{{else}}<span class="bad">disconnected</span>{{end}} since {{rfc3339 .Since}}</td></tr>
<tr><td>MQTT messages</td><td>{{.Received}} received, {{.Acknowledged}} acknowledged, {{.Redelivered}} sent again by the broker, {{.Rejected}} rejected; {{.BatchesHeld}} batches held while InfluxDB failed</td></tr>
<tr><td>MQTT last error</td><td>{{if .LastError}}<span class="bad">{{rfc3339 .LastErrorTime}}: {{.LastError}}</span>{{else}}none{{end}}</td></tr>{{end}}
<tr><td>data</td><td><a href="api/status">api/status</a> (JSON) · <a href="metrics">metrics</a></td></tr>
</tbody></table>

<script>
document.querySelectorAll('button.forget').forEach(function (b) {
  b.addEventListener('click', function () {
    var ident = b.dataset.ident;
    if (!confirm('Forget device ' + ident + '? Its last-message gauges leave /metrics until it sends again.')) return;
    fetch('api/devices/forget?ident=' + encodeURIComponent(ident), {method: 'POST'}).then(function (r) {
      if (r.ok) { b.closest('tr').remove(); } else { r.text().then(function (t) { alert(t); }); }
    });
  });
});
document.getElementById('filter').addEventListener('input', function () {
  var q = this.value.toLowerCase(), shown = 0;
  document.querySelectorAll('#devices tbody tr').forEach(function (tr) {
    var ok = tr.dataset.filter.toLowerCase().indexOf(q) >= 0;
    tr.style.display = ok ? '' : 'none';
    if (ok) shown++;
  });
  document.getElementById('device-count').textContent = shown;
});
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var col = th.cellIndex; // the column in its own table
    var table = th.closest('table'), body = table.tBodies[0];
    var numeric = th.dataset.type === 'n', asc = th.dataset.dir !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > col; });
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var u = x.dataset.v !== undefined ? x.dataset.v : x.textContent, v = y.dataset.v !== undefined ? y.dataset.v : y.textContent;
      var r = numeric ? parseFloat(u) - parseFloat(v) : u.localeCompare(v);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body></html>
`

// withRegistered adds the registered devices that sent nothing since the
// start (the tracker only knows those that did): after a restart a silent
// device is on the page too, with 0 messages. Sorted by ident, as the
// tracker's list is.
func (s *Server) withRegistered(listed []deviceStatus) []deviceStatus {
	seen := make(map[string]bool, len(listed))
	for _, d := range listed {
		seen[d.Ident] = true
	}
	for _, r := range s.devices.List() {
		if !seen[r.Ident] && len(listed) < maxStatusDevices {
			listed = append(listed, deviceStatus{Ident: r.Ident, Name: r.Labels["device_name"], LastMessage: r.LastMessage, LastReceived: r.LastReceived})
		}
	}
	slices.SortFunc(listed, func(a, b deviceStatus) int { return strings.Compare(a.Ident, b.Ident) })
	return listed
}

// suggestion is a rule the status page suggests, with the unmapped names
// it would map: io.245 and io.246 both suggest io.*, shown once.
type suggestion struct {
	Rule  string   `json:"rule"`
	Names []string `json:"names"`
}

// groupSuggestions gathers the unmapped names by their suggested rule, in
// the order of the names (most messages first).
func groupSuggestions(unmapped []statusUnmapped) []suggestion {
	var out []suggestion
	at := map[string]int{}
	for _, u := range unmapped {
		i, ok := at[u.Suggestion]
		if !ok {
			i = len(out)
			at[u.Suggestion] = i
			out = append(out, suggestion{Rule: u.Suggestion})
		}
		out[i].Names = append(out[i].Names, u.Name)
	}
	return out
}
