// Command flespi-exporter takes flespi device messages (an HTTP stream,
// flespi's MQTT broker, or dumps to import) and turns them into InfluxDB
// points and Prometheus gauges by TOML rules.
//
// It only parses flags and starts things; the work is in the config,
// mapping, message and exporter packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/grafana"
	"github.com/flespi-exporter/flespi-exporter/internal/datalock"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

const usage = `flespi-exporter: flespi messages (HTTP stream, MQTT) → InfluxDB points and Prometheus gauges.

Usage:
  flespi-exporter [serve] [-config FILE] [-cpuprofile FILE] [-memprofile FILE]
                                              run the service (-cpuprofile: write a Go CPU
                                              profile of the run when it stops, -memprofile a heap
                                              profile when it is told to stop, for go tool pprof)
  flespi-exporter check -config FILE [-influx] [-param NAME,...]
                                              validate the configuration and summarise it; -influx also
                                              checks InfluxDB takes the writes and compares the rules with
                                              the field types it holds; -param says which rule takes a name
  flespi-exporter map -config FILE [FILE|-]   show what messages map to (a dry run)
  flespi-exporter import -config FILE [-restart] [-state STATE] FILE...
  flespi-exporter import -config FILE -flespi all|ID,...|ident:IDENT [-from 30d] [-to now] [-flespi-host URL]
                                              write flespi message dumps to InfluxDB (backfill), resumable
  flespi-exporter dashboard -config FILE [-o FILE] [-uid UID] [-title TITLE] [-influx-uid UID] [-prometheus-uid UID]
                                              write a Grafana dashboard of every field and gauge the rules define
  flespi-exporter alerts -config FILE [-dir DIR] [-dashboard FILE]
                                              write the rules' alerts ([[rule.alert]]), their promtool tests
                                              and the fleet dashboard's thresholds
  flespi-exporter status [-url URL]           print what the status page says first (exit 3 when data is not stored)
  flespi-exporter health [-url URL]           exit 0 if URL answers 200 (container health checks)
  flespi-exporter version                     print the version

Flags (each command has its own: flespi-exporter COMMAND -h lists them):
  -config FILE   configuration file (default "config.toml")
  -version       print the version and exit
  -help          this text

map reads a JSON array of flespi messages, JSON lines, or a single message
from a file or standard input ("-", the default), and prints for each message
the InfluxDB line protocol and the Prometheus samples it makes, then the
parameters no rule mapped.

Exit status: 0 on success, 1 on a configuration or input error, 2 on bad usage.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, named := "serve", false
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args, named = args[0], args[1:], true
	}
	switch {
	case name == "version" || (!named && len(args) > 0 && (args[0] == "-version" || args[0] == "--version")):
		fmt.Fprintln(stdout, "flespi-exporter", buildVersion())
		return 0
	case name == "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", name, usage)
		return 2
	}
	// Each command has a FlagSet of its own: a flag of another command
	// (check -restart) is refused, not silently ignored.
	fs := flag.NewFlagSet("flespi-exporter "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if named {
			commandUsage(stderr, fs, name, cmd.operands)
			return
		}
		fmt.Fprint(stderr, usage)
	}
	do := cmd.flags(fs, stdin, stdout, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cmd.operands == "" && fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s takes no arguments but flags; got %q\n", name, fs.Args())
		return 2
	}
	return do(fs.Args())
}

// command is one of flespi-exporter's commands: flags declares its flags
// on fs and returns what runs it with the arguments left after them.
type command struct {
	operands string // what follows the flags, for the usage line; "" for nothing
	flags    func(fs *flag.FlagSet, stdin io.Reader, stdout, stderr io.Writer) func(args []string) int
}

var commands = map[string]command{
	"serve": {flags: func(fs *flag.FlagSet, _ io.Reader, _, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file when the server stops")
		memProfile := fs.String("memprofile", "", "write a heap profile to this file when the server is told to stop, before it shuts down")
		return func([]string) int { return serve(*configFile, *cpuProfile, *memProfile, stderr) }
	}},
	"check": {flags: func(fs *flag.FlagSet, _ io.Reader, stdout, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		withInflux := fs.Bool("influx", false, "also check that InfluxDB takes the writes, and compare the rules with the field types it holds")
		params := fs.String("param", "", "parameter names, comma-separated: say which rule takes each (and which ones it leaves nothing)")
		return func([]string) int { return check(*configFile, *withInflux, *params, stdout, stderr) }
	}},
	"map": {operands: "[FILE|-]", flags: func(fs *flag.FlagSet, stdin io.Reader, stdout, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		withEvents := fs.Bool("events", false, "print the fleet events the messages make (trips, stops, idling, overspeed, refuels, drains) instead of their points and gauges")
		return func(args []string) int {
			if len(args) > 1 {
				fmt.Fprintln(stderr, "map takes one input file")
				return 2
			}
			input := "-"
			if len(args) == 1 {
				input = args[0]
			}
			if *withEvents {
				return mapEvents(*configFile, input, stdin, stdout, stderr)
			}
			return mapMessages(*configFile, input, stdin, stdout, stderr)
		}
	}},
	"import": {operands: "FILE... | -flespi DEVICES", flags: func(fs *flag.FlagSet, _ io.Reader, stdout, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		restart := fs.Bool("restart", false, "import from the start, ignoring earlier progress")
		stateFile := fs.String("state", "", "keep the progress in this file (for a dump in a read-only folder) instead of FILE.import-state (or, from flespi, in data.dir)")
		devices := fs.String("flespi", "", "read from flespi's REST API instead of files: \"all\", device ids \"123,456\", or \"ident:IDENT\" (token: FLESPI_TOKEN)")
		from := fs.String("from", "30d", "with -flespi: the start, a date (2026-11-01, RFC 3339) or how far back (30d, 12h)")
		to := fs.String("to", "now", "with -flespi: the end, a date or how far back")
		host := fs.String("flespi-host", "https://flespi.io", "with -flespi: flespi's REST host (https://ru.flespi.io for the RU region)")
		return func(args []string) int {
			if *devices == "" {
				return importDumps(*configFile, args, *restart, *stateFile, nil, stdout, stderr)
			}
			src, err := flespiSource(*devices, *from, *to, *host, time.Now())
			if err != nil {
				fmt.Fprintln(stderr, "import -flespi:", err)
				return 2
			}
			if len(args) > 0 {
				fmt.Fprintln(stderr, "import -flespi reads from flespi: give no files")
				return 2
			}
			return importDumps(*configFile, nil, *restart, *stateFile, src, stdout, stderr)
		}
	}},
	"dashboard": {flags: func(fs *flag.FlagSet, _ io.Reader, stdout, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		output := fs.String("o", "-", "output file (- for standard output)")
		uid := fs.String("uid", "", "the dashboard's uid, its own beside the shipped one (default flespi-all-parameters)")
		title := fs.String("title", "", "the dashboard's title (default \"flespi all parameters\")")
		influxUID := fs.String("influx-uid", "", "uid of the InfluxDB datasource in your Grafana (default the stack's, flespi-influxdb)")
		promUID := fs.String("prometheus-uid", "", "uid of the Prometheus datasource in your Grafana (default the stack's, flespi-prometheus)")
		return func([]string) int {
			return dashboard(*configFile, *output, grafana.Options{UID: *uid, Title: *title, InfluxUID: *influxUID, PromUID: *promUID}, stdout, stderr)
		}
	}},
	"alerts": {flags: func(fs *flag.FlagSet, _ io.Reader, stdout, stderr io.Writer) func([]string) int {
		configFile := configFlag(fs)
		dir := fs.String("dir", "grafana/prometheus", "where to write "+grafana.RuleAlertsFile+" and "+grafana.RuleAlertsTestFile)
		dash := fs.String("dashboard", "grafana/dashboards/flespi-fleet.json", "dashboard whose columns get the alerts' thresholds (\"\" for none)")
		return func([]string) int { return alerts(*configFile, *dir, *dash, stdout, stderr) }
	}},
	"status": {flags: func(fs *flag.FlagSet, _ io.Reader, stdout, stderr io.Writer) func([]string) int {
		base := fs.String("url", "http://127.0.0.1:9884", "the internal listener")
		return func([]string) int { return statusCmd(*base, stdout, stderr) }
	}},
	"health": {flags: func(fs *flag.FlagSet, _ io.Reader, _, stderr io.Writer) func([]string) int {
		healthURL := fs.String("url", "http://127.0.0.1:9884/-/ready", "URL that health checks (the internal listener's /-/ready)")
		return func([]string) int { return health(*healthURL, stderr) }
	}},
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "config.toml", "configuration file")
}

func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v // go install module@version
	}
	// A build in a git checkout: the commit it was built from.
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev[:min(12, len(rev))] + modified
}

// load reads the configuration and prints its errors; nil means it failed.
func load(file string, stderr io.Writer) *config.Loaded {
	cfg, err := config.Load(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil
	}
	return cfg
}

func serve(file, cpuProfile, memProfile string, stderr io.Writer) int {
	cfg := load(file, stderr)
	if cfg == nil {
		return 1
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		defer stopProfile()
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.Data.Dir != "" {
		release, err := datalock.Take(cfg.Data.Dir)
		if err != nil {
			log.Error("cannot start: the data directory (data.dir) is in use by another exporter, or by an import running alone; give each exporter a data.dir of its own", "err", err)
			return 1
		}
		defer release()
	}
	srv, err := exporter.New(cfg, exporter.Options{Registry: prometheus.NewRegistry(), Log: log, Version: buildVersion()})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	// SIGHUP reloads the rules, as Prometheus' own servers do.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_, _ = srv.Reload() // logs its own errors and warnings
		}
	}()
	if memProfile != "" {
		ctx = heapProfileOnStop(ctx, memProfile, log)
	}
	if err := srv.Run(ctx, nil); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the process until the returned function is
// called, which writes the profile out.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// heapProfileOnStop returns a context that ends once a heap profile is
// written to file after ctx (the stop signal) ends: the profile is of
// what the running server held, before its outputs close.
func heapProfileOnStop(ctx context.Context, file string, log *slog.Logger) context.Context {
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer cancel()
		<-ctx.Done()
		f, err := os.Create(file)
		if err == nil {
			runtime.GC() // the profile's in-use figures are of the last collection
			err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
		}
		if err != nil {
			log.Error("memprofile", "err", err)
		}
	}()
	return run
}

// isTerminal reports whether w is a terminal, for the progress display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// dashboard writes the dashboard generated from the configuration's rules.
func dashboard(file, output string, opts grafana.Options, stdout, stderr io.Writer) int {
	cfg := load(file, stderr)
	if cfg == nil {
		return 1
	}
	opts.Events = cfg.Events.Enabled
	b, err := grafana.GenerateDashboard(cfg.Mapping, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if output == "-" {
		_, _ = stdout.Write(b)
		return 0
	}
	if err := os.WriteFile(output, b, 0o644); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// health is the container health check: images without curl run the
// exporter itself to ask its /-/ready.
func health(url string, stderr io.Writer) int {
	resp, err := getOK(url, 5*time.Second, stderr)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	return 0
}

// getOK GETs url from the internal listener; anything but 200 is written
// to stderr, with the answer, and is an error.
func getOK(url string, timeout time.Duration, stderr io.Writer) (*http.Response, error) {
	resp, err := (&http.Client{Timeout: timeout}).Get(url)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(stderr, "%s: %s %s\n", url, resp.Status, body)
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return resp, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // checked when the config loaded
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// commandUsage prints one command's flags: `flespi-exporter dashboard -h`.
func commandUsage(w io.Writer, fs *flag.FlagSet, cmd, operands string) {
	fmt.Fprintf(w, "Usage: flespi-exporter %s [flags]", cmd)
	if operands != "" {
		fmt.Fprint(w, " "+operands)
	}
	fmt.Fprint(w, "\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "  -%-12s %s%s\n", f.Name, f.Usage, def)
	})
}
