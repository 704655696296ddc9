package devices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/internal/atomicfile"
	"github.com/flespi-exporter/flespi-exporter/mapping"
)

// labelName is a Prometheus label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// FileName is the registry's file in the data directory.
const FileName = "devices.json"

// SaveEvery is how often a changed registry is written: after a SIGKILL,
// at most the devices' last few seconds are re-learned from their next
// messages.
const SaveEvery = 5 * time.Second

// fileFormat is the content of devices.json.
type fileFormat struct {
	Version int `json:"version"`
	// Generation counts full saves: the journal names the one it follows.
	Generation int64        `json:"generation,omitempty"`
	Saved      time.Time    `json:"saved"`
	Devices    []fileDevice `json:"devices"`
}

type fileDevice struct {
	Ident          string            `json:"ident"`
	Labels         map[string]string `json:"labels,omitempty"` // message tags (device_name), without ident
	Name           string            `json:"name,omitempty"`   // device.name
	Source         string            `json:"source,omitempty"` // of its last message
	LastMessageNS  int64             `json:"last_message_ns"`
	LastReceivedNS int64             `json:"last_received_ns"`
	LastArrivalNS  int64             `json:"last_arrival_ns,omitempty"`
	// Its rhythm: the state of its newest message and the last gaps
	// (seconds, newest last) per state.
	Moving     bool     `json:"moving,omitempty"`
	GapsParked []uint32 `json:"gaps_parked,omitempty"`
	GapsMoving []uint32 `json:"gaps_moving,omitempty"`
}

// Options say where a registry lives and when it forgets.
type Options struct {
	// Dir is the data directory; "" keeps the registry in memory only.
	Dir string
	// ForgetAfter forgets a device that sent nothing for that long; 0 never.
	ForgetAfter time.Duration
	Now         func() time.Time // time.Now when nil
	Log         *slog.Logger
	// Silence measures each device's silence; the defaults when nil.
	Silence *SilencePolicy
	// MaxDevices bounds the devices registered; 0: no bound.
	MaxDevices int
}

// Open returns the registry kept in opts.Dir, loading what an earlier run
// saved. A file that cannot be read as a registry is set aside (renamed
// with a .corrupt suffix) and logged, and the registry starts empty: the
// devices come back with their messages.
func Open(opts Options) (*Registry, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Silence == nil {
		opts.Silence = NewSilencePolicy(config.Default().Silence)
	}
	r := &Registry{devices: map[string]*device{}, forget: opts.ForgetAfter, now: opts.Now, log: opts.Log, silence: opts.Silence, max: opts.MaxDevices}
	if opts.Dir == "" {
		return r, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	r.file = filepath.Join(opts.Dir, FileName)
	r.removeTemporaries()
	if err := r.load(); err != nil {
		r.devices, r.generation = map[string]*device{}, 0
		_ = r.dropJournal()
		aside := fmt.Sprintf("%s.corrupt-%d", r.file, opts.Now().Unix())
		if rerr := os.Rename(r.file, aside); rerr != nil {
			return nil, fmt.Errorf("%s: %v, and it could not be set aside: %w", r.file, err, rerr)
		}
		r.log.Error("the device registry could not be read; it was set aside and starts empty", "file", r.file, "err", err, "moved_to", aside)
	}
	// Fail at start, not at the first save, when the directory is not writable.
	if err := r.Save(); err != nil {
		return nil, err
	}
	return r, nil
}

// removeTemporaries removes the temporary files of saves that a kill cut
// short: each is a whole registry of megabytes, and a crash loop would
// fill the disk with them.
func (r *Registry) removeTemporaries() {
	leftovers, _ := filepath.Glob(r.file + ".tmp-*")
	for _, f := range leftovers {
		if err := os.Remove(f); err == nil {
			r.log.Info("removed the temporary file of a save cut short", "file", f)
		}
	}
}

// load reads the registry file; a missing file is an empty registry.
func (r *Registry) load() error {
	raw, err := os.ReadFile(r.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f fileFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return err
	}
	if f.Version != 1 {
		return fmt.Errorf("version %d, want 1", f.Version)
	}
	r.generation = f.Generation
	for _, d := range f.Devices {
		if dev := r.fromFile(d); dev != nil {
			r.devices[d.Ident] = dev
		}
	}
	return r.replayJournal()
}

// fromFile is a device as the file keeps it; nil for one no message could
// have sent (an ident too long or empty).
func (r *Registry) fromFile(d fileDevice) *device {
	if d.Ident == "" || len(d.Ident) > mapping.MaxIdentLen {
		return nil
	}
	labels := []mapping.Label{{Name: "ident", Value: d.Ident}}
	for k, v := range d.Labels {
		// A label name Prometheus cannot read would break every
		// scrape: an edited or damaged file loses that label only.
		if !labelName.MatchString(k) || k == "ident" {
			r.log.Warn("the device registry holds a label that is not a Prometheus label name; it is left out", "ident", d.Ident, "label", k)
			continue
		}
		labels = append(labels, mapping.Label{Name: k, Value: v})
	}
	sortLabels(labels)
	name := d.Name
	if name == "" {
		name = d.Labels["device_name"] // saved before names were
	}
	dev := &device{reg: r, labels: labels, name: name, source: d.Source, lastMessage: d.LastMessageNS, lastReceived: d.LastReceivedNS, lastArrival: max(d.LastArrivalNS, d.LastReceivedNS)}
	dev.rhythm.load(d.Moving, d.GapsParked, d.GapsMoving)
	return dev
}

// toFile is a device as the file keeps it.
func toFile(s *snapshot) fileDevice {
	fd := fileDevice{Ident: s.ident, Name: s.name, Source: s.source, LastMessageNS: s.lastMessage, LastReceivedNS: s.lastReceived, LastArrivalNS: s.lastArrival,
		Moving: s.rhythm.moving, GapsParked: s.rhythm.list(0), GapsMoving: s.rhythm.list(1)}
	for _, l := range s.labels {
		if l.Name != "ident" {
			if fd.Labels == nil {
				fd.Labels = map[string]string{}
			}
			fd.Labels[l.Name] = l.Value
		}
	}
	return fd
}

func sortLabels(l []mapping.Label) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Name < l[j-1].Name; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// Save writes the registry when it changed since the last save: to a
// temporary file, synced, then renamed over the old one, so that the file
// is always a whole registry, the old or the new.
func (r *Registry) Save() error {
	if r.file == "" {
		return nil
	}
	r.saveMu.Lock() // one save at a time: the files and the generation
	defer r.saveMu.Unlock()
	r.mu.Lock()
	changed := r.takeChanged()
	r.mu.Unlock()
	_, statErr := os.Stat(r.file)
	if len(changed) == 0 && statErr == nil {
		return nil
	}
	appended, err := r.appendJournal(changed)
	if err == nil && !appended {
		if err = r.write(); err == nil {
			err = r.dropJournal()
		}
	}
	if err != nil {
		r.mu.Lock()
		r.giveBackChanged(changed) // tried again next time, with what changed since
		r.mu.Unlock()
		return fmt.Errorf("saving the device registry: %w", err)
	}
	return nil
}

func (r *Registry) write() error {
	f := fileFormat{Version: 1, Generation: r.generation + 1, Saved: r.now().UTC()}
	for _, s := range r.snapshots(false) {
		f.Devices = append(f.Devices, toFile(&s))
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(r.file, raw); err != nil {
		return err
	}
	r.generation = f.Generation
	return nil
}

// Run saves the registry every SaveEvery while it changes, and once more
// when ctx ends (a graceful stop loses nothing).
func (r *Registry) Run(ctx context.Context) {
	tick := time.NewTicker(SaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.Save(); err != nil {
				r.log.Error("the device registry was not saved at shutdown", "err", err)
			}
			return
		case <-tick.C:
			if err := r.Save(); err != nil {
				r.log.Error("the device registry was not saved; retrying", "err", err)
			}
		}
	}
}
