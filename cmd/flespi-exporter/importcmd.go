package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/exporter/source/backfill"
	"github.com/flespi-exporter/flespi-exporter/internal/datalock"
)

// importDumps is the backfill: flespi message dumps, or flespi's REST API,
// through the exporter's own outputs (InfluxDB, remote write) and device
// registry. While the exporter runs on the data directory it does the
// import itself, asked on its internal listener; else the import takes the
// data directory and runs alone with the same wiring.
func importDumps(file string, inputs []string, restart bool, state string, src *backfill.FlespiSource, stdout, stderr io.Writer) int {
	if len(inputs) == 0 && src == nil {
		fmt.Fprintln(stderr, "import needs at least one file of flespi messages, or -flespi DEVICES")
		return 2
	}
	cfg := load(file, stderr)
	if cfg == nil {
		return 1
	}
	if cfg.InfluxDB.URL == "" && cfg.RemoteWrite.URL == "" && src != nil {
		fmt.Fprintln(stderr, "import: influxdb.url and remote_write.url are empty: there is nowhere to store the messages")
		return 1
	}
	if src != nil {
		src.Token = os.Getenv("FLESPI_TOKEN")
		if src.Token == "" {
			src.Token = cfg.MQTT.Token
		}
	}
	req := backfill.Request{Files: absolute(inputs), Restart: restart, State: absolute([]string{state})[0], Flespi: src}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var sum backfill.Summary
	var err error
	release, lockErr := datalock.Take(cfg.Data.Dir)
	switch {
	case errors.Is(lockErr, datalock.ErrHeld):
		fmt.Fprintln(stderr, "the exporter runs on this data directory: it does the import, through its outputs and device registry")
		sum, err = importThroughExporter(ctx, cfg, req, stderr)
	case lockErr != nil:
		fmt.Fprintln(stderr, "import:", lockErr)
		return 1
	default:
		defer release()
		sum, err = importAlone(ctx, cfg, req, stderr)
	}
	printImportSummary(stdout, sum, cfg, file)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "import interrupted: the messages above are stored and recorded; run the same command again to continue")
		return 130 // as a shell reports a command ended by Ctrl-C
	}
	if err != nil {
		fmt.Fprintln(stderr, "import failed:", err)
		return 1
	}
	return 0
}

// absolute makes paths absolute, for an exporter whose working directory
// is not ours; "" stays "".
func absolute(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p
		if p != "" {
			if a, err := filepath.Abs(p); err == nil {
				out[i] = a
			}
		}
	}
	return out
}

// importAlone runs the import with the exporter's wiring, the data
// directory held: every configured store and the device registry, saved
// at the end.
func importAlone(ctx context.Context, cfg *config.Loaded, req backfill.Request, stderr io.Writer) (backfill.Summary, error) {
	log := newLogger(cfg.Log, stderr)
	srv, err := exporter.New(cfg, exporter.Options{Registry: prometheus.NewRegistry(), Log: log, Version: buildVersion()})
	if err != nil {
		return backfill.Summary{}, err
	}
	sum, err := srv.Import(ctx, req, stderr, isTerminal(stderr))
	if cerr := srv.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return sum, err
}

// importThroughExporter asks the running exporter to import (POST
// /-/import on its internal listener) and prints its progress as it
// comes.
func importThroughExporter(ctx context.Context, cfg *config.Loaded, req backfill.Request, stderr io.Writer) (backfill.Summary, error) {
	var sum backfill.Summary
	addr := cfg.HTTP.InternalListen
	if addr == "" {
		return sum, errors.New("the exporter has no internal listener (http.internal_listen) to ask: set one, or stop the exporter and import alone")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return sum, fmt.Errorf("http.internal_listen: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return backfill.Ask(ctx, "http://"+net.JoinHostPort(host, port), req, stderr)
}

// printImportSummary says what an import did.
func printImportSummary(stdout io.Writer, sum backfill.Summary, cfg *config.Loaded, file string) {
	fmt.Fprintf(stdout, "imported %d messages (%d done by an earlier run): %d messages skipped (no ident or time), %d values skipped\n",
		sum.Messages, sum.Resumed, sum.SkippedMessages, sum.SkippedValues)
	for _, name := range slices.Sorted(maps.Keys(sum.Outputs)) {
		o := sum.Outputs[name]
		if o.Quiet && o.Stored == 0 && o.Refused == 0 {
			continue // the fleet events of a history that closed none
		}
		fmt.Fprintf(stdout, "%s: %d %s written, %d dead-lettered\n", name, o.Stored, o.Unit, o.Refused)
	}
	if sum.Replayed > 0 || sum.ReplayRefused > 0 {
		fmt.Fprintf(stdout, "replayed remote write dead letters: %d samples stored, %d refused again\n", sum.Replayed, sum.ReplayRefused)
	}
	if sum.Unmapped > 0 {
		fmt.Fprintf(stdout, "%d values of parameters no rule maps were left out (mapping.unmatched = %q): flespi-exporter map -config %s FILE lists them, and rules.d/ is where a rule for them goes\n",
			sum.Unmapped, cfg.Mapping.Config().Unmatched, file)
	}
	if sum.Unreadable > 0 {
		fmt.Fprintf(stdout, "%d lines of dead-letter files could not be read and were left out (see above)\n", sum.Unreadable)
	}
}
