package devices

import (
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/message"
)

const silentAfter = "flespi_device_silent_after_seconds"

// report feeds the registry a message of ident every gap from start,
// n of them, each in motion m; it returns the time of the last.
func report(r *Registry, ident string, start time.Time, gap time.Duration, n int, m Motion) time.Time {
	at := start
	for i := range n {
		at = start.Add(time.Duration(i) * gap)
		s := seen(ident, "", at, at)
		s.Motion = m
		r.Update([]Seen{s}, "http")
	}
	return at
}

func openWith(t *testing.T, dir string, cfg config.Silence) *Registry {
	t.Helper()
	r, err := Open(Options{Dir: dir, Log: quiet, Silence: NewSilencePolicy(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSilenceFollowsTheRhythm: a device that reports hourly while parked
// is silent after twice that (not after the 15-minute floor); the same
// device, once moving and reporting every minute, after the floor; a new
// device after the floor; one long outage does not become its rule; the
// maximum caps it.
func TestSilenceFollowsTheRhythm(t *testing.T) {
	r := openWith(t, "", config.Default().Silence)
	day := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	at := report(r, "van", day, time.Minute, 60, Moving)                // a trip
	at = report(r, "van", at.Add(5*time.Minute), time.Hour, 12, Parked) // the night
	report(r, "new", day, 0, 1, MotionUnknown)
	// Reports every 6 hours, with one outage of 3 days among them.
	at2 := report(r, "heartbeat", day, 6*time.Hour, 4, Parked)
	report(r, "heartbeat", at2.Add(72*time.Hour), 6*time.Hour, 4, Parked)
	values, _ := exposition(t, r)
	for ident, want := range map[string]time.Duration{"van": 2 * time.Hour, "new": 15 * time.Minute, "heartbeat": 12 * time.Hour} {
		if got := values[silentAfter+" "+ident]; got != want.Seconds() {
			t.Errorf("%s: silent after %vs, want %v", ident, got, want)
		}
	}
	// Moving again: the trip's rhythm, a minute, under the floor.
	report(r, "van", at.Add(time.Hour), time.Minute, 2, Moving)
	values, _ = exposition(t, r)
	if got := values[silentAfter+" van"]; got != (15 * time.Minute).Seconds() {
		t.Errorf("moving: silent after %vs, want the floor", got)
	}
	// A device that reports once a week: capped at silence.max.
	report(r, "weekly", day, 7*24*time.Hour, 5, Parked)
	values, _ = exposition(t, r)
	if got := values[silentAfter+" weekly"]; got != (48 * time.Hour).Seconds() {
		t.Errorf("weekly: silent after %vs, want silence.max", got)
	}
}

// upload feeds the registry one upload of ident: messages recorded every
// recorded before at (device times), all received by flespi at at, a
// second apart.
func upload(r *Registry, ident string, at time.Time, n int, recorded time.Duration, m Motion) {
	var batch []Seen
	for i := range n {
		s := seen(ident, "", at.Add(-time.Duration(n-1-i)*recorded), at.Add(time.Duration(i)*time.Second))
		s.Motion = m
		batch = append(batch, s)
	}
	r.Update(batch, "http")
}

// TestSilenceOnTheUploadClock: a trailer that records hourly and uploads
// every 12 hours is silent after at least 12 hours (from its device times
// it would have learned 2 hours, and fired 10 hours in 12); a tracker
// buffered for an hour and delivered in one batch is one upload; a late
// message teaches nothing and leaves the state.
func TestSilenceOnTheUploadClock(t *testing.T) {
	r := openWith(t, "", config.Default().Silence)
	day := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		upload(r, "trailer", day.Add(time.Duration(i)*12*time.Hour), 12, time.Hour, Parked)
	}
	values, _ := exposition(t, r)
	if got := values[silentAfter+" trailer"]; got < (12 * time.Hour).Seconds() {
		t.Errorf("the 12-hour uploader: silent after %vs, want at least 12h", got)
	}
	// A van reporting every 10 minutes, then an hour out of coverage
	// delivered at once, then every 10 minutes again.
	at := report(r, "van", day, 10*time.Minute, 6, Parked)
	upload(r, "van", at.Add(time.Hour), 60, time.Minute, Parked)
	report(r, "van", at.Add(time.Hour+10*time.Minute), 10*time.Minute, 3, Parked)
	late := seen("van", "", day.Add(-time.Hour), day.Add(-time.Hour))
	late.Motion = Moving
	r.Update([]Seen{late}, "mqtt")
	devs := r.List()
	for _, d := range devs {
		if d.Ident == "van" && (d.UsualGap != 600 || d.Moving || d.SilentAfter != 1200) {
			t.Errorf("van: %+v; want a usual gap of 10 minutes, parked, silent after 20", d)
		}
	}
}

// TestCatchUpKeepsTheRhythm: a 2-hour outage of the exporter, then the
// catch-up burst: with flespi's receive times the gaps are the usual
// ones; without them (all arriving at once) the burst is one upload, and
// one long gap does not become the rule. Either way the silence stays.
func TestCatchUpKeepsTheRhythm(t *testing.T) {
	for _, withServerTime := range []bool{true, false} {
		r := openWith(t, "", config.Default().Silence)
		day := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		at := report(r, "bus", day, 30*time.Minute, 8, Parked)
		before := r.List()[0].SilentAfter
		var burst []Seen
		arrival := at.Add(2 * time.Hour)
		for i := 1; i <= 4; i++ {
			sent := at.Add(time.Duration(i) * 30 * time.Minute)
			received := sent // flespi's server.timestamp
			if !withServerTime {
				received = arrival.Add(time.Duration(i) * time.Millisecond)
			}
			s := seen("bus", "", sent, received)
			s.Motion = Parked
			burst = append(burst, s)
		}
		r.Update(burst, "http")
		if after := r.List()[0].SilentAfter; after != before || before != 3600 {
			t.Errorf("server.timestamp %v: silent after %vs before the outage, %vs after; want 1h both", withServerTime, before, after)
		}
	}
}

// TestUploadTime: the upload clock is flespi's server.timestamp, else
// rest.timestamp, else the arrival; never ahead of the arrival.
func TestUploadTime(t *testing.T) {
	arrival := time.Unix(1765200000, 0)
	for body, want := range map[string]int64{
		`{"ident":"a","timestamp":1,"server.timestamp":1765199000.5}`: 1765199000_500000000,
		`{"ident":"a","timestamp":1,"rest.timestamp":1765199001}`:     1765199001_000000000,
		`{"ident":"a","timestamp":1}`:                                 arrival.UnixNano(),
		`{"ident":"a","timestamp":1,"server.timestamp":1865199000}`:   arrival.UnixNano(), // ahead
	} {
		if err := message.NewDecoder().Decode([]byte(body), func(m *message.Message) error {
			_, _, uploaded := readOne(m)
			if got := message.UploadTime(uploaded, arrival); got != want || message.ServerTimeOf(m.Get("server.timestamp"), m.Get("rest.timestamp")) != uploaded {
				t.Errorf("%s: %d, want %d", body, got, want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSilenceConfigured: [[silence.device]] sets the silence of a device
// or a group by ident or name, the first that matches winning over what
// was learned; a reload changes it.
func TestSilenceConfigured(t *testing.T) {
	cfg := config.Default().Silence
	cfg.Devices = []config.SilenceFor{
		{Name: "Trailer *", After: config.Duration(12 * time.Hour)},
		{Ident: "35209308*", After: config.Duration(30 * time.Minute)},
	}
	r := openWith(t, "", cfg)
	day := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, d := range []struct{ ident, name string }{{"352093081", "Trailer 7"}, {"352093082", "Truck 2"}, {"777", "Car"}} {
		for i := range 5 {
			at := day.Add(time.Duration(i) * time.Hour)
			r.Update([]Seen{{Ident: d.ident, Labels: seen(d.ident, "", at, at).Labels, Name: []byte(d.name), At: at.UnixNano(), Received: at.UnixNano(), Motion: Parked}}, "http")
		}
	}
	values, _ := exposition(t, r)
	for ident, want := range map[string]time.Duration{"352093081": 12 * time.Hour, "352093082": 30 * time.Minute, "777": 2 * time.Hour} {
		if got := values[silentAfter+" "+ident]; got != want.Seconds() {
			t.Errorf("%s: silent after %vs, want %v", ident, got, want)
		}
	}
	r.SetSilence(NewSilencePolicy(config.Default().Silence))
	values, _ = exposition(t, r)
	if got := values[silentAfter+" 352093081"]; got != (2 * time.Hour).Seconds() {
		t.Errorf("after a reload without the entry: %vs, want the learned 2h", got)
	}
}

// TestSilenceKeptAcrossRestarts: the rhythm is saved with the registry.
func TestSilenceKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	r := openWith(t, dir, config.Default().Silence)
	report(r, "van", time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC), 40*time.Minute, 10, Parked)
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	again := openWith(t, dir, config.Default().Silence)
	values, _ := exposition(t, again)
	if got := values[silentAfter+" van"]; got != (80 * time.Minute).Seconds() {
		t.Errorf("after a restart: silent after %vs, want 80m", got)
	}
}

// TestMotionOfAMessage: what a message says of the vehicle.
// readOne reads m as a new batch's part would.
func readOne(m *message.Message) (*message.Param, Motion, float64) {
	return (&Registry{}).NewPart().(*part).readMessage(m)
}

func TestMotionOfAMessage(t *testing.T) {
	for body, want := range map[string]Motion{
		`{"ident":"a","timestamp":1}`:                                          MotionUnknown,
		`{"ident":"a","timestamp":1,"position.speed":0}`:                       Parked,
		`{"ident":"a","timestamp":1,"position.speed":3}`:                       Parked, // GNSS drift
		`{"ident":"a","timestamp":1,"position.speed":42}`:                      Moving,
		`{"ident":"a","engine.ignition.status":true,"position.speed":0}`:       Moving,
		`{"ident":"a","movement.status":false,"engine.ignition.status":false}`: Parked,
		`{"ident":"a","movement.status":true,"device.name":"Van"}`:             Moving,
	} {
		var got Motion
		var name *message.Param
		if err := message.NewDecoder().Decode([]byte(body), func(m *message.Message) error {
			name, got, _ = readOne(m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
		if (name != nil) != (body == `{"ident":"a","movement.status":true,"device.name":"Van"}`) {
			t.Errorf("%s: device.name %v", body, name)
		}
	}
}
