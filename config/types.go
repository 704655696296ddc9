package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as "30s", "5m", or in whole
// days, "90d".
type Duration time.Duration

// UnmarshalText reads a Go duration, or a number of days.
func (d *Duration) UnmarshalText(b []byte) error {
	text := string(b)
	if days, ok := strings.CutSuffix(text, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n < 100_000 {
			*d = Duration(time.Duration(n) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("want a duration like \"30s\", \"5m\" or \"90d\"; got %q", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string {
	if v := time.Duration(d); v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(d).String()
}

// Size is a number of bytes written in TOML as "32MiB", "512KB" or 1048576.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText reads a size with an optional unit.
func (s *Size) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(text, u.suffix) {
			text, mult = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size like \"32MiB\", \"512KB\" or a number of bytes; got %q", b)
	}
	*s = Size(n * mult)
	return nil
}

func (s Size) String() string {
	for _, u := range sizeUnits[:3] {
		if s >= Size(u.mult) && int64(s)%u.mult == 0 && int64(s)/u.mult < 1024 {
			return fmt.Sprintf("%d%s", int64(s)/u.mult, u.suffix)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}
