package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flespi-exporter/flespi-exporter/grafana"
)

// alerts writes what the rules' [[rule.alert]] entries make: the alert
// rules and their promtool tests into dir, and the thresholds of the
// dashboard's columns (none when dashboard is "").
func alerts(file, dir, dashboard string, stdout, stderr io.Writer) int {
	cfg := load(file, stderr)
	if cfg == nil {
		return 1
	}
	rules, tests := grafana.AlertFiles(cfg.Mapping, cfg.RelativeRuleOrigin)
	for name, b := range map[string][]byte{grafana.RuleAlertsFile: rules, grafana.RuleAlertsTestFile: tests} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", path)
	}
	fmt.Fprintf(stdout, "%d alerts from the rules\n", len(cfg.Mapping.Alerts()))
	if dashboard == "" {
		return 0
	}
	old, err := os.ReadFile(dashboard)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	b, set, err := grafana.SetThresholds(old, cfg.Mapping)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", dashboard, err)
		return 1
	}
	if err := os.WriteFile(dashboard, b, 0o644); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, s := range set {
		fmt.Fprintf(stdout, "%s: %s\n", dashboard, s)
	}
	return 0
}
