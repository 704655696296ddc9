package message

import "math"

// Index finds a fixed set of parameters in messages. It remembers where
// they were in the last message it read: a device type sends the same
// keys in the same order message after message (Message.SameKeys), and
// then finding them is a lookup by position per name rather than a pass
// over some 45 names.
type Index struct {
	names []string
	lens  uint64  // bit n set: a name of n bytes (n < 64) is wanted
	at    []int16 // the names' positions in Params; -1: not there
	dec   uint64  // the decoder the positions are of (Message.Names)
	seq   uint32
	ok    bool
}

// NewIndex returns an Index of names.
func NewIndex(names ...string) *Index {
	x := &Index{names: names, at: make([]int16, len(names))}
	for _, n := range names {
		x.lens |= 1 << min(len(n), 63)
	}
	return x
}

// Read makes msg the message whose parameters Get returns. Each message
// a decoder makes should be read in turn: one skipped makes the next one
// be searched whole.
func (x *Index) Read(msg *Message) {
	if !x.ok || !msg.SameKeys || msg.Seq != x.seq+1 || msg.Names != x.dec {
		x.locate(msg)
	}
	x.seq = msg.Seq
}

// Get is the parameter of the i-th name in msg, the message last read;
// nil when msg has none. The last of a name wins, as in Message.Get.
func (x *Index) Get(msg *Message, i int) *Param {
	if j := x.at[i]; j >= 0 && int(j) < len(msg.Params) {
		return &msg.Params[j]
	}
	return nil
}

// locate finds the names in msg, telling most parameters apart from the
// wanted ones by their length.
func (x *Index) locate(msg *Message) {
	for i := range x.at {
		x.at[i] = -1
	}
	x.ok, x.dec = len(msg.Params) < math.MaxInt16, msg.Names
	for i := range min(len(msg.Params), math.MaxInt16) { // positions past int16 are not found
		n := msg.Params[i].Name
		if x.lens&(1<<min(len(n), 63)) == 0 {
			continue
		}
		for w, name := range x.names {
			if name == n {
				x.at[w] = int16(i)
			}
		}
	}
}
