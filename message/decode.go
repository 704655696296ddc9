package message

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth bounds the nesting of arrays and objects inside a parameter value,
// so that a hostile body cannot exhaust the stack.
const maxDepth = 64

// maxNames and maxNameBytes bound the decoder's cache of parameter names,
// in names and in bytes; names longer than MaxNameLen are never cached. Past
// the bounds, names are still decoded, just allocated each time.
const (
	maxNames     = 1 << 16
	maxNameBytes = 4 << 20
)

// MaxNameLen is the longest parameter name a rule maps: longer names (a
// stream that puts data in its keys) are decoded, but the mapping skips
// them and counts them, and the decoder does not keep them.
const MaxNameLen = 256

// SyntaxError reports a body that is not valid JSON or not a flespi batch.
type SyntaxError struct {
	Offset int // byte offset in the body where the problem was found
	Line   int // line of that offset, starting at 1
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at line %d, byte %d: %s", e.Line, e.Offset, e.Msg)
}

// Decoder decodes flespi batches. It reuses its buffers between calls, so a
// Decoder must not be used by two goroutines at once; keep one per goroutine
// or in a sync.Pool.
type Decoder struct {
	names     map[string]*name // by the name as sent: the normalized name and its ID
	nameBytes int              // the bytes of the cached names
	ids       map[string]int32 // by normalized name
	// The keys of the previous message, in order, and of this one once
	// one differs from the previous message's at its position: messages
	// of one device type repeat their keys in the same order, so the i-th
	// key is most often the previous message's i-th, checked with one
	// comparison instead of a map lookup, and not copied.
	prev, cur []*name
	// prevDistinct says the keys of prev are distinct. Both change only
	// once a message is whole: a message cut short leaves them as they were.
	prevDistinct bool
	seen         []uint32 // by name ID: the last message (seq) that had the name
	seq          uint32
	str          []byte // unescaped strings of the current message
	msg          Message
	body         []byte
	pos          int
}

// NewDecoder returns a Decoder with empty buffers.
func NewDecoder() *Decoder {
	d := &Decoder{names: make(map[string]*name), ids: make(map[string]int32)}
	d.msg.Names = decoderIDs.Add(1)
	return d
}

// decoderIDs numbers decoders, so that Param IDs of two decoders never mix.
var decoderIDs atomic.Uint64

// name is an interned parameter name and its ID, with the key as it was
// sent (raw), which may differ ("ain#1" for "ain.1").
type name struct {
	s, raw string
	id     int32
	// plain says raw has no quote, backslash or control character, which
	// only an escape can write: then the body's bytes between two quotes
	// equal raw only when the key is raw. Other keys take the slow path.
	plain bool
	// sent is the key as compact JSON has it, quotes and colon included
	// ("raw":), in words of 8 bytes at offsets 0, 8, ..., the last one
	// ending where it ends (overlapping the one before): a plain key is
	// found in the body with a few word comparisons instead of a call to
	// compare bytes (a key took a hundred instructions, now about
	// seventy). nil when shorter than 8 bytes, or not plain.
	sent []uint64
}

// keyWords returns the words of a key's text in compact JSON for
// name.sent, or nil when it is shorter than a word.
func keyWords(raw string) []uint64 {
	text := []byte(`"` + raw + `":`)
	if len(text) < 8 {
		return nil
	}
	w := make([]uint64, 0, (len(text)+7)/8)
	for off := 0; off+8 < len(text); off += 8 {
		w = append(w, word(text, off))
	}
	return append(w, word(text, len(text)-8))
}

// word loads the 8 bytes of b at i, which must be there, as one word
// (in the machine's byte order: words are only compared with words).
// Without the bounds checks of slicing: with them, comparing a key a word
// at a time took as many instructions as comparing it byte by byte.
func word(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Pointer(unsafe.SliceData(b[i : i+8])))
}

// sentAt reports whether b holds the key as compact JSON at i, followed
// by ':', and where that ends. Only for a key with words (sent).
func (nm *name) sentAt(b []byte, i int) (int, bool) {
	end := i + len(nm.raw) + 3
	if end > len(b) {
		return 0, false
	}
	at := unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i) // i <= end <= len(b)
	w := nm.sent
	last := len(w) - 1
	for k, x := range w[:last] {
		if *(*uint64)(unsafe.Add(at, 8*k)) != x {
			return 0, false
		}
	}
	return end, *(*uint64)(unsafe.Add(at, end-i-8)) == w[last]
}

// Decode parses body and calls fn for every message in it, in order.
//
// body is a JSON array of objects (what flespi sends), a single object, or
// objects one after another (JSON lines). The whole body is checked: when
// Decode returns an error, fn may already have been called for the messages
// before the fault, so callers that must not act on a bad body collect what fn
// gives them and use it only when Decode returns nil.
//
// The Message passed to fn, and the Raw bytes of its parameters, are only
// valid until fn returns: fn must copy what it keeps. An error from fn stops
// decoding and is returned as is.
func (d *Decoder) Decode(body []byte, fn func(*Message) error) error {
	d.body, d.pos = body, 0
	defer func() { d.body = nil }()
	d.skipSpace()
	if d.pos == len(body) {
		return d.errorf("the body is empty; want a JSON array of messages")
	}
	if body[d.pos] == '[' {
		return d.decodeArray(fn)
	}
	for d.pos < len(body) {
		if body[d.pos] != '{' {
			return d.errorf("want a JSON object or array of objects, found %s", d.describe())
		}
		if err := d.decodeMessage(fn); err != nil {
			return err
		}
		d.skipSpace()
	}
	return nil
}

func (d *Decoder) decodeArray(fn func(*Message) error) error {
	d.pos++ // '['
	d.skipSpace()
	if d.peek() == ']' {
		d.pos++
		return d.expectEnd()
	}
	for n := 0; ; n++ {
		if d.peek() != '{' {
			return d.errorf("array element %d is %s; every message must be a JSON object", n, d.describe())
		}
		if err := d.decodeMessage(fn); err != nil {
			return err
		}
		end, ok := d.afterElement(']')
		switch {
		case !ok:
			return d.errorf("want ',' or ']' after array element %d, found %s", n, d.describe())
		case end:
			return d.expectEnd()
		}
	}
}

// afterElement reads what follows an element of an array or an object:
// a comma (more follow) or closing (the end); ok is false for anything
// else.
func (d *Decoder) afterElement(closing byte) (end, ok bool) {
	d.skipSpace()
	switch d.peek() {
	case ',':
		d.pos++
		d.skipSpace()
		return false, true
	case closing:
		d.pos++
		return true, true
	}
	return false, false
}

func (d *Decoder) expectEnd() error {
	d.skipSpace()
	if d.pos != len(d.body) {
		return d.errorf("unexpected %s after the end of the array", d.describe())
	}
	return nil
}

// decodeMessage decodes one flat object at d.pos and hands it to fn.
func (d *Decoder) decodeMessage(fn func(*Message) error) error {
	start := d.pos
	d.pos++ // '{'
	// While every key is the previous message's key at its position
	// (allSame), the keys so far are prev's first ones, and cur is
	// filled only from the first key that differs. While they are, and
	// those were distinct, the keys are distinct: no need to note them
	// for Repeats until one differs.
	distinct := d.prevDistinct && len(d.prev) > 0
	allSame := true
	d.cur = d.cur[:0]
	d.msg.Params = d.msg.Params[:0]
	d.msg.Repeats = false
	d.seq++
	d.msg.Seq = d.seq
	d.str = d.str[:0]
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		d.msg.Raw = d.body[start:d.pos]
		d.msg.SameKeys = len(d.prev) == 0
		d.prev, d.prevDistinct = d.prev[:0], true
		return fn(&d.msg)
	}
	// The loop reads the body through b and i, which stay in registers
	// (d.pos costs a store and a load at every step): d.pos is set only
	// around the general code for what compact JSON with the previous
	// message's keys seldom has (spaces, new keys, escapes, literals,
	// nested values, faults). That made decoding about a tenth faster.
	// The previous message's key, compared a word at a time, and a
	// number are read in the loop itself, without a call of key or
	// readPlainString: each call cost a tenth of reading a parameter.
	b, i := d.body, d.pos
	for {
		var nm *name
		same := false
		if k := len(d.msg.Params); k < len(d.prev) && d.prev[k].sent != nil {
			if end, ok := d.prev[k].sentAt(b, i); ok { // key's first case
				nm, same, i = d.prev[k], true, end
			}
		}
		if nm == nil {
			if i < len(b) && b[i] <= ' ' { // spaces are looked for only where compact JSON is not
				i = d.spaceAt(i)
			}
			next, err := 0, error(nil)
			if nm, same, next, err = d.key(b, i); err != nil {
				return err
			}
			i = next
		}
		if allSame && !same {
			allSame = false
			d.catchUp(distinct)
		}
		if !allSame {
			d.cur = append(d.cur, nm)
		}
		if !distinct || !allSame {
			d.note(nm.id)
		}
		p := d.nextParam()
		if p.ID != nm.id || nm.id == 0 { // a Param kept from the message before has its name already
			p.Name, p.ID = nm.s, nm.id
		}
		end, fault := i, faultDigit // not a number
		if i < len(b) && (b[i]-'0' <= 9 || b[i] == '-') {
			end, fault = scanNumber(b, i, p)
		}
		if fault == "" {
			i = end
		} else if end, ok := readPlainString(b, i, p); ok {
			i = end
		} else {
			d.pos = d.spaceAt(i)
			if err := d.readValue(p); err != nil {
				return err
			}
			i = d.pos
		}
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] <= ' ' {
			i = d.spaceAt(i)
		}
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == '}':
			d.pos = i + 1
			d.msg.Raw = d.body[start:d.pos]
			d.endKeys(allSame)
			return fn(&d.msg)
		default:
			d.pos = i
			return d.errorf("want ',' or '}' after the value of %q, found %s", nm.s, d.describe())
		}
	}
}

// catchUp is called at the first key of a message that is not the
// previous message's at its position: cur starts with the keys before
// it, which were the previous message's, and they are noted for Repeats
// unless they were already (not distinct).
func (d *Decoder) catchUp(distinct bool) {
	k := len(d.msg.Params)
	d.cur = append(d.cur, d.prev[:k]...)
	if distinct {
		for _, n := range d.prev[:k] {
			d.note(n.id)
		}
	}
}

// endKeys makes the keys of the message just read whole the previous
// message's for the next one.
func (d *Decoder) endKeys(allSame bool) {
	n := len(d.msg.Params)
	d.msg.SameKeys = allSame && n == len(d.prev)
	if allSame {
		d.prev = d.prev[:n]
	} else {
		d.prev, d.cur = d.cur, d.prev
	}
	d.prevDistinct = !d.msg.Repeats
}

// key reads a parameter name and the ':' after it at i, and returns the
// position after them; same reports that it is the previous message's key
// at this position. The decoder's loop has compared a key with words
// (name.sent) already; one too short for them, followed right by ':' as
// in compact JSON, takes one comparison of the body's bytes as they are
// here; other keys are read by readKey and colon.
func (d *Decoder) key(b []byte, i int) (nm *name, same bool, next int, err error) {
	if k := len(d.msg.Params); k < len(d.prev) {
		nm := d.prev[k]
		end := i + 1 + len(nm.raw)
		if nm.sent == nil && nm.plain && end+1 < len(b) && b[i] == '"' && b[end] == '"' && b[end+1] == ':' && string(b[i+1:end]) == nm.raw {
			return nm, true, end + 2, nil
		}
	}
	d.pos = i
	if d.peek() != '"' {
		return nil, false, 0, d.errorf("want a parameter name in double quotes, found %s", d.describe())
	}
	if nm, same, err = d.readKey(); err != nil {
		return nil, false, 0, err
	}
	if err := d.colon(nm); err != nil {
		return nil, false, 0, err
	}
	return nm, same, d.pos, nil
}

// spaceAt returns the position after the spaces at i.
func (d *Decoder) spaceAt(i int) int {
	d.pos = i
	d.skipSpace()
	return d.pos
}

// readPlainString reads the value at i into p when it is a string of
// printable ASCII without escapes, as most string values are, and returns
// where it ends. Otherwise it reports false, and readValue reads it (and
// reports any fault). Numbers, most values, the decoder's loop reads
// itself (scanNumber).
func readPlainString(b []byte, i int, p *Param) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	j := i + 1
	for j < len(b) && plainString[b[j]] {
		j++
	}
	if j == len(b) || b[j] != '"' {
		return i, false
	}
	p.Kind, p.Raw = String, b[i+1:j]
	return j + 1, true
}

// nextParam adds a Param to the message and returns it, to be filled in
// place: its old content stays (readValue sets every field its Kind uses).
// Appending a Param{...} literal instead builds it on the stack and copies
// it with wide loads over narrow stores, which the processor cannot
// forward: that one line was a tenth of the exporter's CPU time.
func (d *Decoder) nextParam() *Param {
	n := len(d.msg.Params)
	if n == cap(d.msg.Params) {
		d.msg.Params = append(d.msg.Params, Param{})
	}
	d.msg.Params = d.msg.Params[:n+1]
	return &d.msg.Params[n]
}

// colon moves past the ':' after a key and the spaces around it; compact
// JSON has none, which the first comparisons tell.
func (d *Decoder) colon(nm *name) error {
	if d.peek() != ':' {
		d.skipSpace()
		if d.peek() != ':' {
			return d.errorf("want ':' after parameter name %q, found %s", nm.s, d.describe())
		}
	}
	d.pos++
	if d.peek() <= ' ' {
		d.skipSpace()
	}
	return nil
}

// readKey reads the parameter name at d.pos. It too tries the previous
// message's key at this position first (key only does when a ':' follows
// right away), compared with the body's bytes as they are: one comparison
// instead of scanning the string and looking it up. same reports that it
// was that key.
func (d *Decoder) readKey() (nm *name, same bool, err error) {
	if i := len(d.msg.Params); i < len(d.prev) && d.prev[i].plain {
		raw := d.prev[i].raw
		start, end := d.pos+1, d.pos+1+len(raw)
		if end < len(d.body) && d.body[end] == '"' && string(d.body[start:end]) == raw {
			d.pos = end + 1
			return d.prev[i], true, nil
		}
	}
	key, err := d.readString()
	if err != nil {
		return nil, false, err
	}
	return d.intern(key), false, nil
}

func plainKey(key []byte) bool {
	for _, c := range key {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// intern returns the normalized name for key, cached so that the names of a
// busy stream are allocated once.
func (d *Decoder) intern(key []byte) *name {
	if n, ok := d.names[string(key)]; ok {
		return n
	}
	n := &name{s: NormalizeName(string(key)), raw: string(key), plain: plainKey(key)}
	if len(d.names) < maxNames && len(key) <= MaxNameLen && d.nameBytes < maxNameBytes {
		d.nameBytes += 2 * len(key)
		// One ID per normalized name: "ain#1" and "ain.1" are one name.
		n.id = d.ids[n.s]
		if n.id == 0 {
			n.id = int32(len(d.ids) + 1)
			d.ids[n.s] = n.id
		}
		if n.plain {
			n.sent = keyWords(n.raw)
		}
		d.names[n.raw] = n
	}
	return n
}

// note records that the current message has the name with this ID, and
// whether it had it already. A name without an ID cannot be checked.
func (d *Decoder) note(id int32) {
	if id == 0 {
		d.msg.Repeats = true
		return
	}
	if int(id) >= len(d.seen) {
		d.seen = append(d.seen, make([]uint32, int(id)+1-len(d.seen))...)
	}
	if d.seen[id] == d.seq {
		d.msg.Repeats = true
	}
	d.seen[id] = d.seq
}

func (d *Decoder) readValue(p *Param) error {
	start := d.pos
	switch c := d.peek(); {
	case c == '"':
		s, err := d.readString()
		p.Kind, p.Raw = String, s
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		p.Kind = Number
		if err := d.readNumber(p); err != nil {
			return err
		}
	case c == 't':
		p.Kind = Bool
		if err := d.literal("true"); err != nil {
			return err
		}
	case c == 'f':
		p.Kind = Bool
		if err := d.literal("false"); err != nil {
			return err
		}
	case c == 'n':
		p.Kind, p.Raw = Null, nil
		return d.literal("null")
	case c == '[':
		p.Kind = Array
		if err := d.skipComposite(0); err != nil {
			return err
		}
	case c == '{':
		p.Kind = Object
		if err := d.skipComposite(0); err != nil {
			return err
		}
	default:
		return d.errorf("want a value for %q, found %s", p.Name, d.describe())
	}
	p.Raw = d.body[start:d.pos]
	return nil
}

func (d *Decoder) literal(word string) error {
	if !bytes.HasPrefix(d.body[d.pos:], []byte(word)) {
		return d.errorf("want %q, found %s", word, d.describe())
	}
	d.pos += len(word)
	return nil
}

// readNumber checks the JSON number grammar, moves past the number, and
// reads its value on the way when it is a short decimal (see
// Param.ShortDecimal): most values are, and the mapping needs them.
func (d *Decoder) readNumber(p *Param) error {
	end, fault := scanNumber(d.body, d.pos, p)
	d.pos = end
	switch fault {
	case "":
		return nil
	case faultDigit:
		return d.errorf("invalid number: want a digit, found %s", d.describe())
	}
	return d.errorf("invalid number: %s", fault)
}

// The faults scanNumber finds.
const (
	faultDigit    = "want a digit"
	faultFraction = "want a digit after '.'"
	faultExponent = "want a digit in the exponent"
)

// scanNumber is readNumber on b at i: it returns where the number ends, or
// where it found a fault and which. A number it reads whole is p's value
// (Kind and Raw set here, where b is at hand: set by the caller, after
// the call, the two stores took as many instructions as a digit's reading).
func scanNumber(b []byte, i int, p *Param) (int, string) {
	first := i
	var sign uint8 // negScale for a negative number
	if i < len(b) && b[i] == '-' {
		i, sign = i+1, negScale
	}
	var mant uint64 // wraps past 19 digits; used only up to shortDigits
	start := i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i, mant = digitsOf(b, i, mant)
	default:
		return i, faultDigit
	}
	digits, frac := i-start, 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		i, mant = digitsOf(b, i, mant)
		if i == fracStart {
			return i, faultFraction
		}
		frac = i - fracStart
		digits += frac
	}
	p.state = longNumber
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, faultExponent
		}
		p.Kind, p.Raw = Number, b[first:j]
		return j, "" // not a short decimal
	}
	if digits <= shortDigits && mant <= maxExact {
		p.mant, p.scale, p.state = mant, uint8(frac)|sign, shortDecimal
	}
	p.Kind, p.Raw = Number, b[first:i]
	return i, ""
}

// digitsOf reads the digits of b from i into mant (mant*10 + digit each),
// and returns where they end. A byte minus '0' is a digit when it is at
// most 9 as an unsigned number: one comparison a byte, not two.
func digitsOf(b []byte, i int, mant uint64) (int, uint64) {
	for i < len(b) {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		mant = mant*10 + uint64(c)
		i++
	}
	return i, mant
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// skipComposite checks and moves past an array or object value.
func (d *Decoder) skipComposite(depth int) error {
	if depth >= maxDepth {
		return d.errorf("values nested deeper than %d levels", maxDepth)
	}
	open := d.body[d.pos]
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	d.pos++
	d.skipSpace()
	if d.peek() == closing {
		d.pos++
		return nil
	}
	for {
		if open == '{' {
			if d.peek() != '"' {
				return d.errorf("want a key in double quotes, found %s", d.describe())
			}
			if _, err := d.readString(); err != nil {
				return err
			}
			d.skipSpace()
			if d.peek() != ':' {
				return d.errorf("want ':', found %s", d.describe())
			}
			d.pos++
			d.skipSpace()
		}
		if err := d.skipAny(depth); err != nil {
			return err
		}
		end, ok := d.afterElement(closing)
		switch {
		case !ok:
			return d.errorf("want ',' or '%c', found %s", closing, d.describe())
		case end:
			return nil
		}
	}
}

func (d *Decoder) skipAny(depth int) error {
	switch c := d.peek(); {
	case c == '[' || c == '{':
		return d.skipComposite(depth + 1)
	case c == '"':
		_, err := d.readString()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		var scratch Param // a number inside an array or object: only checked
		return d.readNumber(&scratch)
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	}
	return d.errorf("want a value, found %s", d.describe())
}

// readString reads the string at d.pos. Strings without escapes are returned
// as a slice of the body; others are unescaped into d.str. Invalid UTF-8 is
// replaced by U+FFFD, as encoding/json does, so that it can never reach
// InfluxDB or a Prometheus label.
func (d *Decoder) readString() ([]byte, error) {
	b := d.body
	start := d.pos + 1
	i := start
	ascii := true
	for i < len(b) {
		// Plain bytes are most of a string: skip them with one table lookup each.
		for i < len(b) && plainString[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			d.pos = i + 1
			s := b[start:i]
			if !ascii && !utf8.Valid(s) {
				n := len(d.str)
				d.str = appendValidUTF8(d.str, s)
				return d.str[n:len(d.str):len(d.str)], nil
			}
			return s, nil
		case c == '\\':
			return d.readEscaped(start, i)
		case c < 0x20:
			d.pos = i
			return nil, d.errorf("control character 0x%02x inside a string", c)
		default: // c >= 0x80
			ascii = false
		}
		i++
	}
	d.pos = len(b)
	return nil, d.errorf("unterminated string")
}

// plainString marks the bytes a string can hold with nothing to check:
// printable ASCII but the quote and the backslash.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendValidUTF8 appends s with each byte that is not part of valid UTF-8
// replaced by U+FFFD, as encoding/json does (bytes.ToValidUTF8 would make
// one U+FFFD of a run of them).
func appendValidUTF8(b, s []byte) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return b
}

// readEscaped finishes a string whose first escape is at esc.
func (d *Decoder) readEscaped(start, esc int) ([]byte, error) {
	b := d.body
	n := len(d.str)
	d.str = append(d.str, b[start:esc]...)
	i := esc
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.pos = i + 1
			s := d.str[n:]
			if !utf8.Valid(s) {
				fixed := appendValidUTF8(nil, s)
				d.str = append(d.str[:n], fixed...)
			}
			return d.str[n:len(d.str):len(d.str)], nil
		case c < 0x20:
			d.pos = i
			return nil, d.errorf("control character 0x%02x inside a string", c)
		case c != '\\':
			d.str = append(d.str, c)
			i++
			continue
		}
		if i+1 >= len(b) {
			break
		}
		i++
		switch b[i] {
		case '"', '\\', '/':
			d.str = append(d.str, b[i])
		case 'b':
			d.str = append(d.str, '\b')
		case 'f':
			d.str = append(d.str, '\f')
		case 'n':
			d.str = append(d.str, '\n')
		case 'r':
			d.str = append(d.str, '\r')
		case 't':
			d.str = append(d.str, '\t')
		case 'u':
			r, next, ok := readUnicode(b, i+1)
			if !ok {
				d.pos = i
				return nil, d.errorf("invalid \\u escape")
			}
			d.str = utf8.AppendRune(d.str, r)
			i = next
			continue
		default:
			d.pos = i
			return nil, d.errorf("invalid escape '\\%c'", b[i])
		}
		i++
	}
	d.pos = len(b)
	return nil, d.errorf("unterminated string")
}

// readUnicode decodes the XXXX of \uXXXX at b[i:], joining surrogate pairs. A
// lone surrogate becomes U+FFFD.
func readUnicode(b []byte, i int) (r rune, next int, ok bool) {
	r1, ok := hex4(b, i)
	if !ok {
		return 0, i, false
	}
	next = i + 4
	if !utf16.IsSurrogate(r1) {
		return r1, next, true
	}
	if next+6 <= len(b) && b[next] == '\\' && b[next+1] == 'u' {
		if r2, ok := hex4(b, next+2); ok {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				return r, next + 6, true
			}
		}
	}
	return utf8.RuneError, next, true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (d *Decoder) skipSpace() {
	// flespi sends compact JSON: most calls find no space, and the first
	// comparison tells (every JSON space is at most ' ').
	for d.pos < len(d.body) && d.body[d.pos] <= ' ' {
		switch d.body[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *Decoder) peek() byte {
	if d.pos < len(d.body) {
		return d.body[d.pos]
	}
	return 0
}

// describe names what is at d.pos, for error messages.
func (d *Decoder) describe() string {
	if d.pos >= len(d.body) {
		return "the end of the body"
	}
	c := d.body[d.pos]
	switch {
	case c == '"':
		return "a string"
	case c == '[':
		return "an array"
	case c == '{':
		return "an object"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case bytes.HasPrefix(d.body[d.pos:], []byte("true")) || bytes.HasPrefix(d.body[d.pos:], []byte("false")):
		return "a boolean"
	case bytes.HasPrefix(d.body[d.pos:], []byte("null")):
		return "null"
	case c >= 0x20 && c < 0x7f:
		// Not JSON: say what stands there ("not json" was "found null").
		end := d.pos
		for end < len(d.body) && end-d.pos < 20 && isLetter(d.body[end]) {
			end++
		}
		if end-d.pos > 1 {
			return fmt.Sprintf("%q, which is not JSON", d.body[d.pos:end])
		}
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func (d *Decoder) errorf(format string, args ...any) error {
	pos := min(d.pos, len(d.body))
	return &SyntaxError{
		Offset: pos,
		Line:   1 + bytes.Count(d.body[:pos], []byte{'\n'}),
		Msg:    fmt.Sprintf(format, args...),
	}
}
