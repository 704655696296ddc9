package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/exporter/source/backfill"
)

// flespiSource reads import -flespi's flags: the devices, the range, the
// host.
func flespiSource(devices, from, to, host string, now time.Time) (*backfill.FlespiSource, error) {
	sel, err := selector(devices)
	if err != nil {
		return nil, err
	}
	f, err := moment(from, now)
	if err != nil {
		return nil, fmt.Errorf("-from: %w", err)
	}
	t, err := moment(to, now)
	if err != nil {
		return nil, fmt.Errorf("-to: %w", err)
	}
	if !f.Before(t) {
		return nil, fmt.Errorf("-from %s is not before -to %s", f.Format(time.RFC3339), t.Format(time.RFC3339))
	}
	if !strings.HasPrefix(host, "https://") && !strings.HasPrefix(host, "http://") {
		return nil, fmt.Errorf("-flespi-host %q is not a URL like https://flespi.io", host)
	}
	return &backfill.FlespiSource{Host: host, Selector: sel, From: f, To: t}, nil
}

// selector is flespi's device selector for -flespi: all, ids, or an ident.
func selector(devices string) (string, error) {
	switch {
	case devices == "all":
		return "all", nil
	case strings.HasPrefix(devices, "ident:"):
		ident := strings.TrimPrefix(devices, "ident:")
		if ident == "" || strings.ContainsAny(ident, ",/") {
			return "", fmt.Errorf("-flespi ident:%s: give one ident", ident)
		}
		return "configuration.ident=" + ident, nil
	}
	for _, id := range strings.Split(devices, ",") {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return "", fmt.Errorf("-flespi %q: give all, device ids (123,456) or ident:IDENT", devices)
		}
	}
	return devices, nil
}

// moment reads "now", a date (2026-11-01), a time (RFC 3339) or how far
// back from now ("30d", "12h", "90m").
func moment(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now, nil
	case strings.HasSuffix(s, "d"):
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not now, a date (2026-11-01), a time (RFC 3339) or how far back (30d, 12h)", s)
}
