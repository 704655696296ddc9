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
	if f, ok := p.ShortDecimal(); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(string(p.Raw), 64)
	return f, err == nil
}

// ShortDecimal returns the value of a Number parameter written as most
// are, like 12.640, -73.494497 or 1717171201.913823: no exponent, and at
// most 19 digits that make an integer of at most 2^53. The float is then
// the one the text reads as anywhere (strconv, InfluxDB's line protocol
// parser), so the text can stand for it. Other numbers, and other kinds,
// report false: use Float.
func (p *Param) ShortDecimal() (float64, bool) {
	if p.Kind == Number && p.state == shortDecimal { // the decoder's numbers: one division
		return float64(p.mant) / divisors[p.scale&63], true // exact as in parseShortDecimal
	}
	return p.otherDecimal()
}

// otherDecimal is ShortDecimal of what the decoder did not read as one.
func (p *Param) otherDecimal() (float64, bool) {
	if p.Kind != Number || p.state == longNumber {
		return 0, false
	}
	return parseShortDecimal(p.Raw)
}

// pow10 are the powers of ten that a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// divisors are what a short decimal's digits are divided by, by
// Param.scale: 10^decimals, negated for a negative number (dividing by
// -10^k rounds to the negated quotient: the same float as negating it
// after). 64 entries, so that an index masked with 63 needs no bounds
// check; scale is at most 32+shortDigits.
var divisors = func() (d [64]float64) {
	for k := 0; k <= shortDigits; k++ {
		d[k], d[negScale+k] = pow10[k], -pow10[k]
	}
	return d
}()

// negScale is added to Param.scale for a negative number.
const negScale = 32

// maxExact is the largest integer up to which every integer is a float64.
const maxExact = 1 << 53

// shortDigits is the most digits of a short decimal: 19 digits never wrap
// a uint64, so the integer they make can be checked against maxExact.
const shortDigits = 19

// parseShortDecimal reads the decimals most parameters are, like 12.640,
// -73.494497 or a timestamp with microseconds: no exponent, at most 19
// digits, which make an integer of at most 2^53. That integer and the
// divisor, a power of ten up to 10^19, are both exactly float64s, so one
// correctly rounded division gives the same float as strconv.ParseFloat
// (Clinger's fast path), in a fraction of its time. Other numbers report
// false.
func parseShortDecimal(b []byte) (float64, bool) {
	i, neg := 0, false
	if len(b) > 0 && b[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > shortDigits || mant > maxExact {
		return 0, false
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}

// Int returns the value of a Number parameter written as an integer of at
// most 19 digits, sign aside, exactly: the whole int64 range,
// -9223372036854775808 included. Other numbers (a decimal point, an
// exponent, more digits) and other kinds report false.
func (p *Param) Int() (int64, bool) {
	switch {
	case p.Kind != Number:
		return 0, false
	case p.state == shortDecimal && p.scale&^negScale == 0: // no point: the digits are the integer, at most 2^53
		if p.scale == negScale {
			return -int64(p.mant), true
		}
		return int64(p.mant), true
	}
	return parseInt(p.Raw)
}

// parseInt reads a JSON integer of at most 19 digits exactly, sign aside.
func parseInt(raw []byte) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var n uint64 // 19 digits fit: 10^19 < 2^64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return -int64(n), true // 1<<63 wraps to math.MinInt64, which is what it is
	case !neg && n <= 1<<63-1:
		return int64(n), true
	}
	return 0, false
}

// pow10int are the powers of ten of a time's decimals: 10^9 is a second
// in nanoseconds.
var pow10int = [...]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// Time converts a parameter holding Unix seconds (a Number, or a String
// of a number) to a time, as ParseTime; a number the decoder read needs
// no second reading of its text.
func (p *Param) Time() (time.Time, bool) {
	frac := int(p.scale &^ negScale)
	if p.Kind == Number && p.state == shortDecimal && frac < len(pow10int) {
		unit := pow10int[frac]
		sec, nsec := int64(p.mant)/unit, int64(p.mant)%unit*pow10int[9-frac]
		if p.scale&negScale != 0 {
			sec, nsec = -sec, -nsec
		}
		return time.Unix(sec, nsec).UTC(), true
	}
	return ParseTime(p.Raw)
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
