package message

import (
	"math"
	"strconv"
	"time"
)

// Float returns the value of a Number parameter as a float64.
func (p *Param) Float() (float64, bool) {
	if p.Kind != Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(p.Raw), 64)
	return f, err == nil
}

// ParseTime converts Unix seconds written as a decimal ("1508508510",
// "1508508510.013227") to a time. It reads the digits instead of going through
// a float64, so microseconds (and up to nanoseconds) are exact: a float64
// holds a 2020s timestamp to about a quarter of a microsecond only. Digits past
// the ninth decimal are dropped. Exponent notation is accepted but read as a
// float, rounded to the microsecond.
func ParseTime(raw []byte) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	neg := raw[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	var sec, nsec int64
	start := i
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		if sec > (math.MaxInt64-9)/10 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(raw[i]-'0')
	}
	if i == start {
		return time.Time{}, false
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		scale := int64(100_000_000)
		fracStart := i
		for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
			nsec += int64(raw[i]-'0') * scale
			scale /= 10
		}
		if i == fracStart {
			return time.Time{}, false
		}
	}
	if i < len(raw) {
		return parseTimeFloat(raw)
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), true
}

func parseTimeFloat(raw []byte) (time.Time, bool) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return time.Time{}, false
	}
	us := int64(math.Round(f * 1e6))
	return time.UnixMicro(us).UTC(), true
}
