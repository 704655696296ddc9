package influx

// chunk is the lines of one write request: views into Lines at first,
// rewritten copies once a refused field is taken out of them.
type chunk struct {
	l         *Lines
	lines     [][]byte // each ends with '\n'
	idx       []int    // index in Lines of each line
	rewritten bool     // a line was taken out or rewritten
	buf       []byte
}

func newChunk(l *Lines, lo, hi int) *chunk {
	c := &chunk{l: l, lines: make([][]byte, 0, hi-lo), idx: make([]int, 0, hi-lo)}
	for i := lo; i < hi; i++ {
		c.lines = append(c.lines, l.Span(i, i+1))
		c.idx = append(c.idx, i)
	}
	return c
}

// text is the request body: the text of Lines as it is, with no copy,
// until a line is taken out or rewritten.
func (c *chunk) text() []byte {
	if len(c.lines) == 0 {
		return nil
	}
	if !c.rewritten {
		return c.l.Span(c.idx[0], c.idx[len(c.idx)-1]+1)
	}
	c.buf = c.buf[:0]
	for _, l := range c.lines {
		c.buf = append(c.buf, l...)
	}
	return c.buf
}

// halves splits the chunk in two.
func (c *chunk) halves() (*chunk, *chunk) {
	mid := len(c.lines) / 2
	return &chunk{l: c.l, lines: c.lines[:mid:mid], idx: c.idx[:mid:mid], rewritten: c.rewritten},
		&chunk{l: c.l, lines: c.lines[mid:], idx: c.idx[mid:], rewritten: c.rewritten}
}

// candidates returns the positions in c.lines of the lines that write the
// conflict's field with the type InfluxDB refused, and that field's index
// among each line's fields.
func (c *chunk) candidates(cf conflict) (pos []int, fields [][]lineField, at []int) {
	for i, line := range c.lines {
		measurement, fs, ok := parseLine(line)
		if !ok || measurement != cf.measurement {
			continue
		}
		for j := range fs {
			if fs[j].key == cf.field && fs[j].typ == cf.sent {
				pos, fields, at = append(pos, i), append(fields, fs), append(at, j)
				break
			}
		}
	}
	return pos, fields, at
}

// dropField takes the field at[k] out of the line at pos[k] for each k,
// recording each as a rejection; a line left without fields leaves the
// chunk.
func (c *chunk) dropField(pos []int, fields [][]lineField, at []int, err error, rejected *[]rejection) {
	drop := make(map[int]int, len(pos)) // position → k
	for k, p := range pos {
		drop[p] = k
	}
	kept := 0
	for i, line := range c.lines {
		k, ok := drop[i]
		if !ok {
			c.lines[kept], c.idx[kept] = line, c.idx[i]
			kept++
			continue
		}
		f := fields[k][at[k]]
		*rejected = append(*rejected, rejection{line: c.idx[i], field: string(line[f.start:f.end]), err: err})
		if rest, ok := withoutField(line, fields[k], at[k]); ok {
			c.lines[kept], c.idx[kept] = rest, c.idx[i]
			kept++
		}
	}
	c.lines, c.idx = c.lines[:kept], c.idx[:kept]
	c.rewritten = true
}

// subset is a chunk of the lines at the positions pos of c.
func (c *chunk) subset(pos []int) *chunk {
	s := &chunk{l: c.l, rewritten: true}
	for _, p := range pos {
		s.lines, s.idx = append(s.lines, c.lines[p]), append(s.idx, c.idx[p])
	}
	return s
}
