package simulate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Traces are read whole: the largest shared one is 800k rows, and knowing
// the format before parsing (Prometheus JSON, CSV with a header, bare
// numbers) needs a look at the start anyway.

// ReadUsage reads a usage trace: the CSV format (see README, "tailor
// simulate") or a Prometheus range-query response. name is used in errors;
// gzip input is detected and decompressed.
func ReadUsage(r io.Reader, name string) (*Usage, error) {
	data, err := readAll(r, name)
	if err != nil {
		return nil, err
	}
	if isJSON(data) {
		return promUsage(name, data)
	}
	return csvUsage(name, data)
}

// ReadLoad reads a load trace: whitespace-separated requests per second,
// one value per second (the Twitter trace's format), a CSV with the
// columns unix_s and rps, or a Prometheus range-query response with one
// series. Values are held until the next timestamp, so coarser steps
// become one value per second.
func ReadLoad(r io.Reader, name string) (*Load, error) {
	data, err := readAll(r, name)
	if err != nil {
		return nil, err
	}
	if isJSON(data) {
		return promLoad(name, data)
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.ContainsFunc(first, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		return csvLoad(name, data)
	}
	return plainLoad(name, data)
}

// ReadArrivals reads an arrivals trace: a CSV with the columns name,
// cpu_milli, memory_mib, creation_time, deletion_time and optionally
// num_gpu (the Alibaba GPU trace's names; other columns are ignored). An
// empty deletion_time means the pod outlives the trace.
func ReadArrivals(r io.Reader, name string) (*Arrivals, error) {
	data, err := readAll(r, name)
	if err != nil {
		return nil, err
	}
	c, err := newTable(name, data, []string{"name", "cpu_milli", "memory_mib", "creation_time", "deletion_time"}, []string{"num_gpu"})
	if err != nil {
		return nil, err
	}
	out := &Arrivals{}
	var end int64
	var open []int
	for c.next() {
		p := Pod{Name: c.str("name")}
		p.CPUMilli = c.int("cpu_milli")
		p.MemMiB = c.int("memory_mib")
		p.Create = c.int("creation_time")
		if c.has("num_gpu") {
			p.GPUs = c.int("num_gpu")
		}
		if c.str("deletion_time") == "" {
			open = append(open, len(out.Pods))
		} else if p.Delete = c.int("deletion_time"); c.err == nil && p.Delete < p.Create {
			c.fail("deletion_time", "deletion_time %d before creation_time %d", p.Delete, p.Create)
		}
		if c.err != nil {
			return nil, c.err
		}
		end = max(end, p.Create, p.Delete)
		out.Pods = append(out.Pods, p)
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(out.Pods) == 0 {
		return nil, fmt.Errorf("%s: no pods", name)
	}
	for _, i := range open {
		out.Pods[i].Delete = end
	}
	slices.SortStableFunc(out.Pods, func(a, b Pod) int { return int(a.Create - b.Create) })
	return out, nil
}

// maxTraceBytes bounds what is read (after decompression): a broken or
// hostile file must not take the machine's memory.
const maxTraceBytes = 4 << 30

func readAll(r io.Reader, name string) ([]byte, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		src = z
	}
	data, err := io.ReadAll(io.LimitReader(src, maxTraceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxTraceBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxTraceBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: empty", name)
	}
	return data, nil
}

func isJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// table reads a CSV with a header, by column name, keeping the first
// error with its line and column.
type table struct {
	name string
	r    *csv.Reader
	col  map[string]int
	row  []string
	err  error
}

func newTable(name string, data []byte, required, optional []string) (*table, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	r.Comment = '#'
	head, err := r.Read()
	if err != nil {
		return nil, csvErr(name, err)
	}
	t := &table{name: name, r: r, col: map[string]int{}}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := t.col[h]; dup {
			return nil, fmt.Errorf("%s:1: column %q twice", name, h)
		}
		t.col[h] = i
	}
	var missing []string
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s:1: missing column(s) %s (header %q; want %s, optional %s)", name,
			strings.Join(missing, ", "), strings.Join(head, ","), strings.Join(required, ","), strings.Join(optional, ","))
	}
	return t, nil
}

func csvErr(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d:%d: %v", name, pe.Line, pe.Column, pe.Err)
	}
	if err == io.EOF {
		return fmt.Errorf("%s: no header line", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func (t *table) next() bool {
	if t.err != nil {
		return false
	}
	row, err := t.r.Read()
	if err == io.EOF {
		return false
	}
	if err != nil {
		t.err = csvErr(t.name, err)
		return false
	}
	t.row = row
	return true
}

func (t *table) has(c string) bool { _, ok := t.col[c]; return ok }

func (t *table) line() int {
	l, _ := t.r.FieldPos(0)
	return l
}

func (t *table) fail(c, format string, args ...any) {
	if t.err != nil {
		return
	}
	l, col := t.r.FieldPos(t.col[c])
	t.err = fmt.Errorf("%s:%d:%d: %s: %s", t.name, l, col, c, fmt.Sprintf(format, args...))
}

func (t *table) str(c string) string { return strings.TrimSpace(t.row[t.col[c]]) }

func (t *table) int(c string) int64 {
	s := t.str(c)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Integral floats ("12.0") are common in exported data.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			t.fail(c, "want an integer, got %q", s)
			return 0
		}
		v = int64(f)
	}
	if v < 0 {
		t.fail(c, "negative value %d", v)
	}
	return v
}

func (t *table) float(c string) float64 {
	s := t.str(c)
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		t.fail(c, "want a number, got %q", s)
	case math.IsNaN(v) || math.IsInf(v, 0) || v < 0:
		t.fail(c, "want a finite number >= 0, got %q", s)
	}
	return v
}

// csvUsage reads the usage CSV: columns container (or vm), unix_s,
// cpu_used_cores, mem_used_bytes, and optionally cpu_cores and
// mem_provisioned_bytes (the Bitbrains trace's names).
func csvUsage(name string, data []byte) (*Usage, error) {
	t, err := newTable(name, data, []string{"unix_s", "cpu_used_cores", "mem_used_bytes"}, []string{"container", "vm", "cpu_cores", "mem_provisioned_bytes"})
	if err != nil {
		return nil, err
	}
	key := "container"
	if !t.has(key) {
		key = "vm"
	}
	if !t.has(key) {
		return nil, fmt.Errorf("%s:1: missing column container (or vm)", name)
	}
	b := newUsageBuilder(name)
	for t.next() {
		s := Sample{T: t.int("unix_s"), CPU: t.float("cpu_used_cores"), Mem: t.float("mem_used_bytes")}
		if t.has("cpu_cores") {
			s.ProvCPU = t.float("cpu_cores")
		}
		if t.has("mem_provisioned_bytes") {
			s.ProvMem = t.float("mem_provisioned_bytes")
		}
		c := t.str(key)
		if c == "" {
			t.fail(key, "empty container name")
		}
		if t.err != nil {
			return nil, t.err
		}
		b.add(c, s, t.line())
	}
	if t.err != nil {
		return nil, t.err
	}
	return b.build()
}

// usageBuilder groups samples by container and checks their times.
type usageBuilder struct {
	name  string
	by    map[string]*Series
	lines map[string][]int32
}

func newUsageBuilder(name string) *usageBuilder {
	return &usageBuilder{name: name, by: map[string]*Series{}, lines: map[string][]int32{}}
}

func (b *usageBuilder) add(c string, s Sample, line int) {
	sr := b.by[c]
	if sr == nil {
		sr = &Series{Name: c}
		b.by[c] = sr
	}
	sr.Samples = append(sr.Samples, s)
	b.lines[c] = append(b.lines[c], int32(line))
}

func (b *usageBuilder) build() (*Usage, error) {
	if len(b.by) == 0 {
		return nil, fmt.Errorf("%s: no samples", b.name)
	}
	u := &Usage{}
	for c, sr := range b.by {
		lines := b.lines[c]
		idx := make([]int, len(sr.Samples))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(i, j int) int { return int(sr.Samples[i].T - sr.Samples[j].T) })
		sorted := make([]Sample, len(idx))
		for k, i := range idx {
			sorted[k] = sr.Samples[i]
			if k > 0 && sorted[k].T == sorted[k-1].T {
				return nil, fmt.Errorf("%s:%d: container %s has a second sample at %d (first on line %d)", b.name, lines[i], c, sorted[k].T, lines[idx[k-1]])
			}
		}
		sr.Samples = sorted
		u.Series = append(u.Series, sr)
	}
	slices.SortFunc(u.Series, func(a, b *Series) int { return strings.Compare(a.Name, b.Name) })
	return u, nil
}

// plainLoad reads whitespace-separated numbers, one per second.
func plainLoad(name string, data []byte) (*Load, error) {
	l := &Load{RPS: make([]float64, 0, len(data)/3)}
	line := 1
	for len(data) > 0 {
		i := bytes.IndexAny(data, " \t\r\n")
		tok := data
		if i >= 0 {
			tok, data = data[:i], data[i:]
		} else {
			data = nil
		}
		if len(tok) > 0 {
			v, err := strconv.ParseFloat(string(tok), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, fmt.Errorf("%s:%d: want requests per second (a finite number >= 0), got %q", name, line, tok)
			}
			l.RPS = append(l.RPS, v)
		}
		for len(data) > 0 && (data[0] == ' ' || data[0] == '\t' || data[0] == '\r' || data[0] == '\n') {
			if data[0] == '\n' {
				line++
			}
			data = data[1:]
		}
	}
	if len(l.RPS) == 0 {
		return nil, fmt.Errorf("%s: no values", name)
	}
	return l, nil
}

// csvLoad reads unix_s,rps rows in time order.
func csvLoad(name string, data []byte) (*Load, error) {
	t, err := newTable(name, data, []string{"unix_s", "rps"}, nil)
	if err != nil {
		return nil, err
	}
	var h holder
	for t.next() {
		ts, v := t.int("unix_s"), t.float("rps")
		if t.err != nil {
			return nil, t.err
		}
		if err := h.add(ts, v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, t.line(), err)
		}
	}
	if t.err != nil {
		return nil, t.err
	}
	return h.load(name)
}

// maxLoadSeconds bounds a load trace (a year), so a wild timestamp cannot
// ask for terabytes.
const maxLoadSeconds = 366 * 24 * 3600

// holder expands (time, value) points to one value per second, each value
// held until the next point.
type holder struct {
	l    Load
	last float64
	n    int
}

func (h *holder) add(ts int64, v float64) error {
	if h.n == 0 {
		h.l.Start = ts
	} else {
		end := h.l.Start + int64(len(h.l.RPS))
		if ts < end {
			return fmt.Errorf("time %d is not after the previous one (%d)", ts, end-1)
		}
		if ts-h.l.Start >= maxLoadSeconds {
			return fmt.Errorf("time %d is more than a year after the first (%d)", ts, h.l.Start)
		}
		for t := end; t < ts; t++ {
			h.l.RPS = append(h.l.RPS, h.last)
		}
	}
	h.l.RPS = append(h.l.RPS, v)
	h.last = v
	h.n++
	return nil
}

func (h *holder) load(name string) (*Load, error) {
	if h.n == 0 {
		return nil, fmt.Errorf("%s: no values", name)
	}
	l := h.l
	return &l, nil
}
