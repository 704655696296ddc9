// Package config loads the flespi-exporter configuration file: environment
// expansion, TOML decoding over defaults, and one validation pass whose every
// problem names the file, the line and the key.
package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// Config is the whole configuration file.
type Config struct {
	HTTP        HTTP           `toml:"http"`
	InfluxDB    InfluxDB       `toml:"influxdb"`
	Prometheus  Prometheus     `toml:"prometheus"`
	Log         Log            `toml:"log"`
	Data        Data           `toml:"data"`
	MQTT        MQTT           `toml:"mqtt"`
	Silence     Silence        `toml:"silence"`
	Events      Events         `toml:"events"`
	RemoteWrite RemoteWrite    `toml:"remote_write"`
	Mapping     mapping.Config `toml:"mapping"`
	// RuleFiles name files of the operator's own rules (glob patterns,
	// relative to this file): read before Rules, so that they win, and
	// kept apart from the shipped file that an upgrade replaces.
	RuleFiles []string       `toml:"rule_files"`
	Rules     []mapping.Rule `toml:"rule"`
}

// HTTP is the [http] section: the receiver flespi streams post to, and
// the internal listener of the operator's surfaces.
type HTTP struct {
	// Listen is the address of the stream listener, host:port: the one
	// flespi reaches, which serves only the stream paths and /-/healthy.
	Listen string `toml:"listen"`
	// InternalListen is the address of the operator's surfaces: /metrics,
	// the status page and /api, /-/ready, /-/reload. Empty serves them on
	// the stream listener, behind its tokens and allow-list.
	InternalListen string `toml:"internal_listen"`
	// InternalHosts are names, beyond IP addresses and names without a
	// dot (localhost, a compose service), that the internal listener is
	// reached by (a reverse proxy's): another Host is refused, against
	// DNS rebinding.
	InternalHosts []string `toml:"internal_hosts"`
	// Paths are the URL paths that accept stream batches.
	Paths []string `toml:"paths"`
	// Tokens are accepted bearer tokens; empty entries are ignored, and no
	// token at all means no authentication.
	Tokens []string `toml:"tokens"`
	// AuthHeader is the header that carries "Bearer <token>".
	AuthHeader string `toml:"auth_header"`
	// AllowCIDRs, when not empty, limits clients to these networks
	// (flespi streams come from 185.213.2.0/24).
	AllowCIDRs []string `toml:"allow_cidrs"`
	// MaxBodySize caps a request body, compressed or not ("32MiB").
	MaxBodySize Size `toml:"max_body_size"`
	// ReadTimeout bounds reading a whole request.
	ReadTimeout Duration `toml:"read_timeout"`
	// MaxInFlight caps batches being mapped and stored at once; a batch
	// whose body is read waits a moment for a slot, then gets 503.
	MaxInFlight int `toml:"max_in_flight"`
	// MaxInFlightBytes caps the body bytes that requests hold at once,
	// read or being read (after decompression); past it, 503. The memory
	// of batches in flight is a small multiple of it (docs/operations.md: sizing a container's memory).
	MaxInFlightBytes Size `toml:"max_in_flight_bytes"`
	// TLSCert and TLSKey enable HTTPS when both are set.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
}

// InfluxDB is the [influxdb] section. An empty URL means no InfluxDB output.
type InfluxDB struct {
	URL    string `toml:"url"`
	Org    string `toml:"org"`
	Bucket string `toml:"bucket"` // "db/rp" for InfluxDB 1.8
	Token  string `toml:"token"`  // "user:password" for InfluxDB 1.8
	// TokenFile, when set, is a file the token is read from instead (a
	// secret mounted in a container, written by InfluxDB's first start).
	TokenFile string `toml:"token_file"`
	// Timeout bounds one write request.
	Timeout Duration `toml:"timeout"`
	// BatchSize is the most points sent in one write request.
	BatchSize int `toml:"batch_size"`
	// DeadLetterFile receives, as JSON lines, values InfluxDB rejects for
	// good; empty means dead-letters.jsonl in data.dir, and "off" that they
	// are only logged and counted.
	DeadLetterFile string `toml:"dead_letter_file"`
}

// Prometheus is the [prometheus] section.
type Prometheus struct {
	// Listen is where /metrics was served before http.internal_listen,
	// which now serves it with the other operator surfaces; set, it is an
	// error that says so.
	Listen string `toml:"listen"`
	// Path is the URL path of the metrics.
	Path string `toml:"path"`
	// MaxSeries caps the device gauge series kept at once.
	MaxSeries int `toml:"max_series"`
}

// Data is the [data] section: what the exporter keeps across restarts.
type Data struct {
	// Dir is the data directory: the device registry (devices.json).
	Dir string `toml:"dir"`
	// ForgetDevicesAfter drops a device from the registry, and so its
	// last-message gauges, after that long without a message.
	ForgetDevicesAfter Duration `toml:"forget_devices_after"`
	// MaxDevices bounds the registry (and its three gauges per device):
	// a device past it is stored in InfluxDB but not registered, counted.
	MaxDevices int `toml:"max_devices"`
}

// MQTT is the [mqtt] section: flespi's MQTT broker as a source, for a
// stack without a public URL. An empty token leaves it off.
type MQTT struct {
	// URL is the broker: mqtts://host:port (TLS), mqtt://host:port, wss://.
	URL string `toml:"url"`
	// Token is the flespi token; it is sent as the MQTT username (and
	// password, which flespi also accepts). Empty: no MQTT source.
	Token string `toml:"token"`
	// ClientID names the persistent session: keep it across restarts, so
	// that the broker keeps and resends what was not acknowledged.
	ClientID string `toml:"client_id"`
	// Topics to subscribe to, QoS 1.
	Topics []string `toml:"topics"`
	// ShareGroup, when set, subscribes through $share/<group>/: replicas
	// with the same group share the messages.
	ShareGroup string `toml:"share_group"`
	// SessionExpiry is how long the broker keeps the session (and its
	// messages) while the exporter is away.
	SessionExpiry Duration `toml:"session_expiry"`
	// BatchSize is how many messages make a batch, stored (and then
	// acknowledged) together; BatchWait how long a batch waits to fill;
	// BatchIdle how long the inflow may pause before the batch is stored
	// anyway (a broker that sends the next messages only once these are
	// acknowledged would otherwise wait BatchWait each time). What arrives
	// while a batch is being stored joins the next one.
	BatchSize int      `toml:"batch_size"`
	BatchWait Duration `toml:"batch_wait"`
	BatchIdle Duration `toml:"batch_idle"`
	// BatchBytes bounds the payload bytes of a batch, and of the messages
	// taken in while one is stored: with ReceiveMaximum, the memory the
	// source holds while InfluxDB is down.
	BatchBytes Size `toml:"batch_bytes"`
	// MaxPacketSize is the largest packet the broker may send, told in
	// CONNECT and enforced on read (MQTT allows 256 MiB).
	MaxPacketSize Size `toml:"max_packet_size"`
	// ReceiveMaximum bounds the messages the broker sends before they are
	// acknowledged, and those the source takes in beside the batch being
	// stored: the memory it holds while InfluxDB is down.
	ReceiveMaximum int `toml:"receive_maximum"`
	// CAFile is a PEM file of the CA to trust for the broker's TLS
	// certificate; empty: the system's.
	CAFile string `toml:"ca_file"`
}

// RemoteWrite is the [remote_write] section: every mapped sample, and
// the device gauges, sent to a Prometheus remote write receiver
// (Prometheus, VictoriaMetrics, Mimir, Thanos) with the message's own
// time, beside or instead of InfluxDB. An empty URL leaves it off.
type RemoteWrite struct {
	URL string `toml:"url"`
	// BearerToken, or Username and Password, authenticate the requests.
	BearerToken string `toml:"bearer_token"`
	Username    string `toml:"username"`
	Password    string `toml:"password"`
	// Timeout bounds one request; BatchSize the samples of one.
	Timeout   Duration `toml:"timeout"`
	BatchSize int      `toml:"batch_size"`
	// Protocol is the remote write protocol: "1.0" (every receiver) or
	// "2.0" (where the receiver speaks it).
	Protocol string `toml:"protocol"`
}

// Silence is the [silence] section: after how long without a message a
// device counts as silent, published per device as
// <namespace>_device_silent_after_seconds, which the shipped alert
// compares with. Each device's usual gap between messages is learned from
// the messages' own times, apart for moving and parked.
type Silence struct {
	// Floor: no device is silent sooner, and one whose rhythm is not
	// learned yet (a new device) is silent after this.
	Floor Duration `toml:"floor"`
	// Factor times the device's usual gap in the state of its newest
	// message (moving or parked) is its silence.
	Factor float64 `toml:"factor"`
	// Max: every device is silent after this, whatever it learned.
	Max Duration `toml:"max"`
	// Devices set the silence of a device or a group: the first entry
	// whose patterns match wins, over what was learned.
	Devices []SilenceFor `toml:"device"`
}

// SilenceFor is one [[silence.device]]: the devices whose ident and
// device.name match the glob patterns given (path.Match; "*" any run of
// characters), and their silence.
type SilenceFor struct {
	Ident string   `toml:"ident"`
	Name  string   `toml:"name"`
	After Duration `toml:"after"`
}

// Events is the [events] section: the fleet events detected from the
// messages (trips, stops, idling, overspeed, refuels, drains), on by
// default. The thresholds apply to every device; [[events.device]]
// entries change some of them for a device or a group. docs/events.md
// says what each means and where the definition comes from.
type Events struct {
	Enabled bool `toml:"enabled"`
	// ReorderWindow is how long each message is held, by its arrival,
	// before the detector takes it: flespi delivers a device's buffered
	// messages after newer ones, sometimes newest first.
	ReorderWindow   Duration `toml:"reorder_window"`
	EventThresholds          // the thresholds of every device
	// Devices change thresholds of a device or a group: the first entry
	// whose patterns match wins; a threshold it leaves out (0) is the
	// section's.
	Devices []EventsFor `toml:"device"`
}

// EventThresholds are the thresholds of the fleet events.
type EventThresholds struct {
	MovingSpeed      float64  `toml:"moving_speed"`       // km/h above which a valid fix moves
	MinSatellites    int      `toml:"min_satellites"`     // fewer: not a valid fix
	TripMinDuration  Duration `toml:"trip_min_duration"`  // moved this long, or
	TripMinDistance  float64  `toml:"trip_min_distance"`  // this far (metres): a trip
	StopMinDuration  Duration `toml:"stop_min_duration"`  // standing this long ends a trip
	IgnitionOffMin   Duration `toml:"ignition_off_min"`   // ignition off this long ends a trip
	MaxGap           Duration `toml:"max_gap"`            // no message this long ends a trip
	IdleMin          Duration `toml:"idle_min"`           // ignition on, not moving: idling
	SpeedLimit       float64  `toml:"speed_limit"`        // km/h
	OverspeedMin     Duration `toml:"overspeed_min"`      // above the limit this long
	MaxSpeed         float64  `toml:"max_speed"`          // km/h a GNSS jump may imply
	TankCapacity     float64  `toml:"tank_capacity"`      // litres, for fuel.level percentages
	RefuelMin        float64  `toml:"refuel_min"`         // litres
	RefuelMinPercent float64  `toml:"refuel_min_percent"` // of the tank
	DrainMin         float64  `toml:"drain_min"`          // litres
	DrainMinPercent  float64  `toml:"drain_min_percent"`  // of the tank
	FuelWindow       Duration `toml:"fuel_window"`        // a fuel change must hold this long
}

// EventsFor is one [[events.device]]: the devices whose ident and
// device.name match the glob patterns given, and their thresholds.
type EventsFor struct {
	Ident           string `toml:"ident"`
	Name            string `toml:"name"`
	EventThresholds        // 0: the [events] value
}

// Log is the [log] section.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Default returns the configuration that a file's values are decoded over.
func Default() Config {
	return Config{
		HTTP: HTTP{
			Listen:           ":9883",
			InternalListen:   "127.0.0.1:9884",
			Paths:            []string{"/flespi"},
			AuthHeader:       "Authorization",
			MaxBodySize:      32 << 20,
			ReadTimeout:      Duration(30 * time.Second),
			MaxInFlight:      16,
			MaxInFlightBytes: 128 << 20,
		},
		RemoteWrite: RemoteWrite{Timeout: Duration(10 * time.Second), BatchSize: 5000, Protocol: "1.0"},
		Silence:     Silence{Floor: Duration(15 * time.Minute), Factor: 2, Max: Duration(48 * time.Hour)},
		Events:      Events{Enabled: true, ReorderWindow: Duration(2 * time.Minute), EventThresholds: DefaultEventThresholds()},
		InfluxDB: InfluxDB{
			Org:       "flespi",
			Bucket:    "flespi",
			Timeout:   Duration(10 * time.Second),
			BatchSize: 5000,
		},
		Prometheus: Prometheus{Path: "/metrics", MaxSeries: 1_000_000},
		Log:        Log{Level: "info", Format: "text"},
		Data:       Data{Dir: "data", ForgetDevicesAfter: Duration(90 * 24 * time.Hour), MaxDevices: 100_000},
		MQTT: MQTT{
			URL: "mqtts://mqtt.flespi.io:8883", ClientID: "flespi-exporter", Topics: []string{"flespi/message/gw/devices/+"},
			SessionExpiry: Duration(24 * time.Hour), BatchSize: 500, BatchWait: Duration(time.Second), ReceiveMaximum: 1000,
			BatchIdle: Duration(2 * time.Millisecond), BatchBytes: 32 << 20, MaxPacketSize: 16 << 20,
		},
		Mapping: mapping.DefaultConfig(),
	}
}

// problem is a configuration error before it is given its line.
type problem struct {
	key string // dotted TOML key path, e.g. "http.listen" or "rule#3.regex"
	msg string
}

// validate checks every section but [mapping] and the rules, which
// mapping.Compile checks.
func (c *Config) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	h := &c.HTTP
	if err := checkListen(h.Listen); err != nil {
		add("http.listen", "%v", err)
	}
	if h.InternalListen != "" {
		if err := checkListen(h.InternalListen); err != nil {
			add("http.internal_listen", "%v", err)
		} else if h.InternalListen == h.Listen {
			add("http.internal_listen", "%q is http.listen too: give the operator's surfaces an address of their own, or \"\" to serve them on the stream listener behind its tokens", h.InternalListen)
		}
	}
	if len(h.Paths) == 0 {
		add("http.paths", "needs at least one path, like [\"/flespi\"]")
	}
	for _, p := range h.Paths {
		if !strings.HasPrefix(p, "/") || p == c.Prometheus.Path || strings.HasPrefix(p, "/-/") {
			add("http.paths", "%q must start with '/' and not be the metrics path or under /-/", p)
		}
	}
	if h.AuthHeader == "" {
		add("http.auth_header", "must name a header, like \"Authorization\"")
	}
	for _, cidr := range h.AllowCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			add("http.allow_cidrs", "%q is not a network like 185.213.2.0/24", cidr)
		}
	}
	if h.MaxBodySize <= 0 {
		add("http.max_body_size", "must be positive, like \"32MiB\"")
	}
	if h.ReadTimeout <= 0 {
		add("http.read_timeout", "must be positive, like \"30s\"")
	}
	if h.MaxInFlight < 1 {
		add("http.max_in_flight", "must be at least 1")
	}
	if h.MaxInFlightBytes < h.MaxBodySize {
		add("http.max_in_flight_bytes", "%s is less than http.max_body_size (%s): a batch of the largest size could never be read", h.MaxInFlightBytes, h.MaxBodySize)
	}
	if (h.TLSCert == "") != (h.TLSKey == "") {
		add("http.tls_cert", "tls_cert and tls_key go together: give both or neither")
	}
	ps = append(ps, c.validateInflux()...)
	if c.Prometheus.Listen != "" {
		add("prometheus.listen", "has moved: /metrics is served on http.internal_listen, with the status page and /-/ready; set that instead")
	}
	if !strings.HasPrefix(c.Prometheus.Path, "/") {
		add("prometheus.path", "%q must start with '/'", c.Prometheus.Path)
	}
	if c.Prometheus.MaxSeries < 1 {
		add("prometheus.max_series", "must be at least 1")
	}
	if c.Data.Dir == "" {
		add("data.dir", "must name a directory: the device registry lives there")
	}
	if c.Data.MaxDevices < 1 {
		add("data.max_devices", "must be at least 1")
	}
	if c.Data.ForgetDevicesAfter < Duration(time.Hour) {
		add("data.forget_devices_after", "%s is too short: silent devices must stay long enough to be found; use days, like \"90d\"", c.Data.ForgetDevicesAfter)
	}
	ps = append(ps, c.validateMQTT()...)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "want debug, info, warn or error; got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "want text or json; got %q", c.Log.Format)
	}
	ps = append(ps, c.RemoteWrite.validate()...)
	ps = append(ps, c.Events.validate()...)
	return append(ps, c.Silence.validate()...)
}

// DefaultEventThresholds are the [events] defaults: Traccar's trip
// detector, Wialon's fuel thresholds, a motorway's speed limit.
func DefaultEventThresholds() EventThresholds {
	return EventThresholds{
		MovingSpeed: 5, MinSatellites: 4,
		TripMinDuration: Duration(5 * time.Minute), TripMinDistance: 500,
		StopMinDuration: Duration(5 * time.Minute), IgnitionOffMin: Duration(time.Minute),
		MaxGap: Duration(time.Hour), IdleMin: Duration(3 * time.Minute),
		SpeedLimit: 110, OverspeedMin: Duration(30 * time.Second), MaxSpeed: 300,
		RefuelMin: 10, RefuelMinPercent: 5, DrainMin: 8, DrainMinPercent: 4,
		FuelWindow: Duration(30 * time.Minute),
	}
}

func (e *Events) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if e.ReorderWindow < 0 || e.ReorderWindow > Duration(time.Hour) {
		add("events.reorder_window", "%s: want between 0 and 1h, like \"2m\"", e.ReorderWindow)
	}
	e.EventThresholds.validate("events.", false, add)
	for i, d := range e.Devices {
		key := fmt.Sprintf("events.device#%d", i)
		validatePatterns(key, d.Ident, d.Name, "Truck *", add)
		d.EventThresholds.validate(key+".", true, add)
	}
	return ps
}

// DeviceMatches reports whether a device (its ident and device.name)
// matches an entry's glob patterns ([[silence.device]], [[events.device]]);
// an empty pattern matches everything. The patterns are checked at load.
func DeviceMatches(identPattern, namePattern, ident, name string) bool {
	return globMatches(identPattern, ident) && globMatches(namePattern, name)
}

func globMatches(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// validatePatterns checks the ident and name patterns of a device entry
// (key, like "silence.device#0"): at least one, each a glob.
func validatePatterns(key, ident, name, example string, add func(key, format string, args ...any)) {
	if ident == "" && name == "" {
		add(key, "give ident or name (glob patterns, like ident = \"35209308*\" or name = %q)", example)
	}
	for _, p := range [][2]string{{"ident", ident}, {"name", name}} {
		if _, err := path.Match(p[1], ""); err != nil {
			add(key+"."+p[0], "%q is not a glob pattern: %v", p[1], err)
		}
	}
}

// validate checks thresholds; in a device entry, 0 means the section's.
func (t *EventThresholds) validate(prefix string, entry bool, add func(key, format string, args ...any)) {
	positive := []struct {
		key string
		v   float64
	}{
		{"moving_speed", t.MovingSpeed}, {"trip_min_distance", t.TripMinDistance}, {"max_speed", t.MaxSpeed},
		{"refuel_min", t.RefuelMin}, {"drain_min", t.DrainMin},
		{"trip_min_duration", float64(t.TripMinDuration)}, {"stop_min_duration", float64(t.StopMinDuration)},
		{"ignition_off_min", float64(t.IgnitionOffMin)}, {"max_gap", float64(t.MaxGap)}, {"idle_min", float64(t.IdleMin)},
		{"overspeed_min", float64(t.OverspeedMin)}, {"fuel_window", float64(t.FuelWindow)},
	}
	for _, p := range positive {
		if p.v < 0 || (p.v == 0 && !entry) {
			add(prefix+p.key, "must be positive")
		}
	}
	for _, p := range []struct {
		key string
		v   float64
	}{{"speed_limit", t.SpeedLimit}, {"tank_capacity", t.TankCapacity}, {"refuel_min_percent", t.RefuelMinPercent}, {"drain_min_percent", t.DrainMinPercent}, {"min_satellites", float64(t.MinSatellites)}} {
		if p.v < 0 {
			add(prefix+p.key, "must not be negative (0: off)")
		}
	}
	if t.MaxSpeed > 0 && t.SpeedLimit >= t.MaxSpeed {
		add(prefix+"speed_limit", "%v km/h is not below max_speed (%v km/h), the fastest a GNSS jump may imply", t.SpeedLimit, t.MaxSpeed)
	}
}

func (c *Config) validateInflux() []problem {
	in := &c.InfluxDB
	if in.URL == "" {
		return nil // no InfluxDB output
	}
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
		add("influxdb.url", "%q must start with http:// or https://", in.URL)
	}
	if in.Bucket == "" {
		add("influxdb.bucket", "must name a bucket (\"db/rp\" for InfluxDB 1.8)")
	}
	if in.Timeout <= 0 {
		add("influxdb.timeout", "must be positive, like \"10s\"")
	}
	if in.BatchSize < 1 {
		add("influxdb.batch_size", "must be at least 1")
	}
	return ps
}

// DeadLettersOff is the influxdb.dead_letter_file that keeps none.
const DeadLettersOff = "off"

// deadLetterPath resolves influxdb.dead_letter_file: by default the data
// directory keeps the dead letters, so that they can be replayed.
func deadLetterPath(file, dataDir string) string {
	switch file {
	case "":
		return filepath.Join(dataDir, "dead-letters.jsonl")
	case DeadLettersOff:
		return ""
	}
	return file
}

func (r *RemoteWrite) validate() []problem {
	if r.URL == "" {
		return nil
	}
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("remote_write.url", "%q is not a receiver URL like \"http://prometheus:9090/api/v1/write\"", r.URL)
	}
	if r.BearerToken != "" && (r.Username != "" || r.Password != "") {
		add("remote_write.bearer_token", "give a bearer token or a username and password, not both")
	}
	if r.Timeout <= 0 {
		add("remote_write.timeout", "must be positive, like \"10s\"")
	}
	if r.BatchSize < 1 {
		add("remote_write.batch_size", "must be at least 1")
	}
	if r.Protocol != "1.0" && r.Protocol != "2.0" {
		add("remote_write.protocol", "want \"1.0\" (every receiver) or \"2.0\" (Prometheus 3 with --web.remote-write-receiver.accepted-protobuf-messages naming it); got %q", r.Protocol)
	}
	return ps
}

func (s *Silence) validate() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if s.Floor < Duration(time.Minute) {
		add("silence.floor", "%s is too short: a device reporting every minute would page between two messages; use minutes, like \"15m\"", s.Floor)
	}
	if s.Factor < 1 {
		add("silence.factor", "%v is less than 1: a device would be silent before its usual next message; use 2 or more", s.Factor)
	}
	if s.Max < s.Floor {
		add("silence.max", "%s is less than silence.floor (%s)", s.Max, s.Floor)
	}
	for i, d := range s.Devices {
		key := fmt.Sprintf("silence.device#%d", i)
		validatePatterns(key, d.Ident, d.Name, "Trailer *", add)
		if d.After <= 0 {
			add(key+".after", "must be positive, like \"6h\"")
		}
	}
	return ps
}

func (c *Config) validateMQTT() []problem {
	m := &c.MQTT
	if m.Token == "" {
		return nil // no MQTT source
	}
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key, fmt.Sprintf(format, args...)})
	}
	if u, err := url.Parse(m.URL); err != nil || u.Host == "" || !slices.Contains([]string{"mqtt", "mqtts", "tls", "ssl", "tcp", "ws", "wss"}, u.Scheme) {
		add("mqtt.url", "%q is not a broker URL like \"mqtts://mqtt.flespi.io:8883\"", m.URL)
	}
	if m.ClientID == "" {
		add("mqtt.client_id", "must name the session (keep it across restarts), like \"flespi-exporter\"")
	}
	if len(m.Topics) == 0 {
		add("mqtt.topics", "needs at least one topic, like [\"flespi/message/gw/devices/+\"]")
	}
	if strings.ContainsAny(m.ShareGroup, "/+#") {
		add("mqtt.share_group", "%q cannot hold '/', '+' or '#'", m.ShareGroup)
	}
	switch {
	case m.SessionExpiry == 0:
		add("mqtt.session_expiry", "0 turns the persistent session off: what the broker holds for the exporter, unacknowledged or sent while it is away, would be lost at each reconnect; give a duration like \"7d\"")
	case m.SessionExpiry < 0 || time.Duration(m.SessionExpiry) > time.Duration(1<<32-1)*time.Second:
		add("mqtt.session_expiry", "must be between 1s and 136 years")
	}
	if m.ReceiveMaximum < 1 || m.ReceiveMaximum > 65535 {
		add("mqtt.receive_maximum", "must be between 1 and 65535")
	}
	if m.BatchSize < 1 || m.BatchSize > m.ReceiveMaximum {
		add("mqtt.batch_size", "must be between 1 and mqtt.receive_maximum (%d): a batch is acknowledged whole", m.ReceiveMaximum)
	}
	if m.BatchWait <= 0 {
		add("mqtt.batch_wait", "must be positive, like \"1s\"")
	}
	if m.BatchIdle <= 0 || m.BatchIdle > m.BatchWait {
		add("mqtt.batch_idle", "must be positive and at most mqtt.batch_wait (%s), like \"2ms\"", m.BatchWait)
	}
	if m.MaxPacketSize < 1<<10 || m.MaxPacketSize > 256<<20 {
		add("mqtt.max_packet_size", "must be between 1KiB and 256MiB (MQTT's limit), like \"16MiB\"")
	}
	if m.BatchBytes < m.MaxPacketSize {
		add("mqtt.batch_bytes", "%s is less than mqtt.max_packet_size (%s): a message of the largest size would fit no batch", m.BatchBytes, m.MaxPacketSize)
	}
	if m.CAFile != "" {
		if pem, err := os.ReadFile(m.CAFile); err != nil {
			add("mqtt.ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			add("mqtt.ca_file", "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", m.CAFile)
		}
	}
	return ps
}

func checkListen(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port (\":9883\", \"127.0.0.1:9883\")", addr)
	}
	return nil
}

func nonEmpty(ss []string) []string {
	out := ss[:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
