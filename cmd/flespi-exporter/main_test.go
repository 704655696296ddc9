package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/fleettrace"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

var update = flag.Bool("update", false, "rewrite the expected.txt files of testdata/golden")

// received is the arrival time that golden files are made with.
var received = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // after every sample (mapping.max_future)

// TestMapGolden runs the dry run over each testdata/golden/<case>: its
// config.toml (the repository's when the case has none) and input.json must
// give expected.txt. Run with -update to rewrite them after a wanted change,
// and read the diff.
func TestMapGolden(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/golden/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfgFile := filepath.Join(dir, "config.toml")
			if _, err := os.Stat(cfgFile); err != nil {
				cfgFile = "../../config.toml"
			}
			cfg, err := config.Load(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			input, err := os.ReadFile(filepath.Join(dir, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := printMapped(cfg.Mapping, input, received, &got); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("output differs from %s (run go test -update and read the diff):\n%s", golden, got.String())
			}
		})
	}
}

// runCmd runs the command line and returns its exit status and output.
func runCmd(stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckCommand(t *testing.T) {
	code, out, errOut := runCmd("", "check", "-config", "../../config.toml")
	if code != 0 || !strings.HasPrefix(out, "../../config.toml: OK\n") || errOut != "" {
		t.Errorf("check config.toml: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"rules:      ", "match = \"ble.sensor.temperature.*\"", "gauge flespi_ble_sensor_temperature_celsius"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	code, out, errOut = runCmd("", "check", "-config", "../../config/testdata/invalid-type.toml")
	want := "../../config/testdata/invalid-type.toml:9: [[rule]] #2 scale: is a string; want a number\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("check broken config: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	code, _, errOut = runCmd("", "check", "-config", "does-not-exist.toml")
	if code != 1 || !strings.Contains(errOut, "does-not-exist.toml: no such file") {
		t.Errorf("missing config: exit %d, %q", code, errOut)
	}
}

func TestMapCommand(t *testing.T) {
	lines := `{"ident":"a","timestamp":1508508510.013227,"position.speed":36,"custom.x":1}
{"ident":"b","timestamp":1508508511,"battery.voltage":4.1}
`
	wantOutput(t, lines, []string{"map", "-config", "../../config.toml", "-"},
		"flespi,ident=a position.speed=36 1508508510013227000\n",
		"flespi_position_speed_meters_per_second{ident=\"a\"} 10\n",
		"flespi,ident=b battery.voltage=4.1 1508508511000000000\n",
		"# unmapped: custom.x\n",
		"#   custom.x: 1\n",
	)
	code, _, errOut := runCmd(`[{"ident":"a"},`, "map", "-config", "../../config.toml")
	if code != 1 || errOut != "-: invalid JSON at line 1, byte 15: array element 1 is the end of the body; every message must be a JSON object\n" {
		t.Errorf("bad input: exit %d, %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	if code, out, _ := runCmd("", "-version"); code != 0 || !strings.HasPrefix(out, "flespi-exporter ") {
		t.Errorf("-version: exit %d %q", code, out)
	}
	if code, _, errOut := runCmd("", "-help"); code != 0 || !strings.Contains(errOut, "flespi-exporter check -config FILE") {
		t.Errorf("-help: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd("", "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
}

func TestHealthCommand(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) }))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "InfluxDB is not reachable", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if code, _, errOut := runCmd("", "health", "-url", ok.URL); code != 0 {
		t.Errorf("healthy: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCmd("", "health", "-url", down.URL); code != 1 || !strings.Contains(errOut, "503 Service Unavailable InfluxDB is not reachable") {
		t.Errorf("not ready: exit %d %q", code, errOut)
	}
}

// TestCommandHelp: a command's -h prints that command's flags.
func TestCommandHelp(t *testing.T) {
	code, _, errOut := runCmd("", "dashboard", "-h")
	if code != 0 || !strings.Contains(errOut, "Usage: flespi-exporter dashboard") || !strings.Contains(errOut, "-uid") ||
		!strings.Contains(errOut, "-title") || strings.Contains(errOut, "-restart") {
		t.Errorf("dashboard -h: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCmd("", "dashboard", "-config", "../../config.toml", "-uid", "my-fleet", "-title", "My fleet")
	if code != 0 || !strings.Contains(out, `"uid": "my-fleet"`) || !strings.Contains(out, `"title": "My fleet"`) {
		t.Errorf("dashboard -uid -title: exit %d %s", code, errOut)
	}
}

// TestFlagsOfOtherCommands: each command has its own flags; another
// command's flag is refused, not silently ignored.
func TestFlagsOfOtherCommands(t *testing.T) {
	for _, args := range [][]string{
		{"check", "-config", "../../config.toml", "-restart"},
		{"check", "-config", "../../config.toml", "-uid", "x"},
		{"health", "-config", "../../config.toml"},
		{"dashboard", "-config", "../../config.toml", "-influx"},
	} {
		if code, _, errOut := runCmd("", args...); code != 2 || !strings.Contains(errOut, "flag provided but not defined") {
			t.Errorf("%v: exit %d %q, want 2 and the flag refused", args, code, errOut)
		}
	}
	if code, _, errOut := runCmd("", "check", "-config", "../../config.toml", "extra"); code != 2 || !strings.Contains(errOut, "takes no arguments") {
		t.Errorf("check with an argument: exit %d %q", code, errOut)
	}
}

// TestCheckOwnRules: with your own rule for a shipped parameter, check
// passes, says what your rule takes from the shipped ones, and -param
// names the rule and the alert that apply.
func TestCheckOwnRules(t *testing.T) {
	own := "[[rule]]\nmatch = \"can.fuel.level\"\nunit = \"percent\"\nhelp = \"Fuel.\"\n[[rule.alert]]\nname = \"FleetLowFuel\"\nbelow = 15\nsummary = \"is low on fuel\"\n"
	file := testexporter.WithOwnRules(t, own)
	var out, errs bytes.Buffer
	if code := check(file, false, "can.fuel.level", &out, &errs); code != 0 {
		t.Fatalf("check: %d\n%s", code, errs.String())
	}
	for _, want := range []string{"your rule #1 (", "takes can.fuel.level from rule #", "alert FleetLowFuel: below 15 percent", "FlespiLowFuel steps aside"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check does not say %q:\n%s", want, out.String())
		}
	}
}

// TestMapEvents: map -events prints the events a file of messages makes,
// in any order, as the flespi_events points InfluxDB gets.
func TestMapEvents(t *testing.T) {
	day := fleettrace.Generate(fleettrace.Vehicle{Ident: "352093081234567", Name: "Truck 7", Lat: 53.9, Lon: 27.56, Fuel: 300, Seed: 5},
		time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC), []fleettrace.Step{
			{Kind: fleettrace.Park, For: time.Hour, Every: 15 * time.Minute},
			{Kind: fleettrace.Drive, For: 20 * time.Minute, Every: 30 * time.Second, Speed: 60, Heading: 90, Burn: 30},
			{Kind: fleettrace.Park, For: time.Hour, Every: 15 * time.Minute},
		})
	ds := slices.Clone(day.Deliveries)
	slices.Reverse(ds) // a file in any order
	wantOutput(t, string(fleettrace.Body(ds)), []string{"map", "-events", "-config", "../../config.toml", "-"},
		"# device 352093081234567: 1 event(s)\n",
		"# trip from 2026-03-02T07:00:00Z to 2026-03-02T07:20:00Z (20m0s)\n",
		"flespi_events,device_name=Truck\\ 7,event=trip,ident=352093081234567 end_time=1772436000,duration_s=1200,distance_m=200",
		"# totals: 1 trips, 200",
	)
}

// wantOutput runs the command with stdin and wants its output to hold
// each of wants.
func wantOutput(t *testing.T, stdin string, args []string, wants ...string) {
	t.Helper()
	code, out, errOut := runCmd(stdin, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%v: the output lacks %q:\n%s", args, want, out)
		}
	}
}
