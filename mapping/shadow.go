package mapping

import (
	"regexp/syntax"
	"strings"
)

// A rule that an earlier one leaves nothing to match is a mistake worth a
// warning: the operator's regex placed after a shipped glob that takes
// every name it would. Whether one regular language holds another has no
// cheap general answer, so the later rule is tried on samples that stand
// for all it matches: a wildcard or a wide character class is "\x00", a
// character no parameter name has, which only an earlier rule's wildcard
// takes; repeats are tried at their least count and one more, and every
// alternative apart. When every sample is taken by an earlier rule, so is
// every name.

// maxSamples bounds the samples of a rule; a rule with more is not judged.
const maxSamples = 64

// anyChar stands for any character in a sample.
const anyChar = "\x00"

// samples are the names that stand for everything rule r matches; ok is
// false when they would be too many to try.
func (r *rule) samples() ([]string, bool) {
	switch {
	case r.cfg.Regex != "":
		re, err := syntax.Parse(r.cfg.Regex, syntax.Perl)
		if err != nil {
			return nil, false
		}
		return regexSamples(re.Simplify())
	case r.glob:
		return []string{strings.ReplaceAll(r.pattern, "*", anyChar)}, true
	}
	return []string{r.pattern}, true
}

// regexSamples writes samples of re (see above).
func regexSamples(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, true
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return []string{anyChar}, true
	case syntax.OpCharClass:
		return classSamples(re.Rune), true
	case syntax.OpCapture:
		return regexSamples(re.Sub[0])
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s, ok := regexSamples(sub)
			if !ok || len(out)*len(s) > maxSamples {
				return nil, false
			}
			out = product(out, s)
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := regexSamples(sub)
			if !ok || len(out)+len(s) > maxSamples {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return repeatSamples(re)
	}
	return nil, false
}

// repeatSamples tries a repeat at its least count and one more (none and
// one for * and ?).
func repeatSamples(re *syntax.Regexp) ([]string, bool) {
	least, most := re.Min, re.Max
	switch re.Op {
	case syntax.OpStar:
		least, most = 0, -1
	case syntax.OpPlus:
		least, most = 1, -1
	case syntax.OpQuest:
		least, most = 0, 1
	}
	sub, ok := regexSamples(re.Sub[0])
	if !ok {
		return nil, false
	}
	var out []string
	for n := least; n <= least+1 && (most < 0 || n <= most); n++ {
		s := []string{""}
		for range n {
			if len(s)*len(sub) > maxSamples {
				return nil, false
			}
			s = product(s, sub)
		}
		out = append(out, s...)
	}
	if len(out) > maxSamples {
		return nil, false
	}
	return out, true
}

// classSamples are the characters of a small class, each; a wider one is
// any character.
func classSamples(ranges []rune) []string {
	var chars []string
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] >= 3 || len(chars) >= 3 {
			return []string{anyChar}
		}
		for c := ranges[i]; c <= ranges[i+1]; c++ {
			chars = append(chars, string(c))
		}
	}
	if len(chars) > 3 {
		return []string{anyChar}
	}
	return chars
}

func product(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out
}
