package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// promSeries is one series of a Prometheus range-query (matrix) response.
type promSeries struct {
	labels map[string]string
	line   int // of the series' start
	points []promPoint
}

type promPoint struct {
	t    float64 // Unix seconds
	v    float64
	line int
}

// promDoc walks a response token by token so that every error can name its
// line: {"status":"success","data":{"resultType":"matrix","result":[...]}}.
type promDoc struct {
	name  string
	data  []byte
	dec   *json.Decoder
	nl    []int // offsets of '\n'
	found bool
}

func parseProm(name string, data []byte) ([]promSeries, error) {
	d := &promDoc{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			d.nl = append(d.nl, i)
		}
	}
	var status, errMsg string
	var out []promSeries
	err := d.object(func(key string) error {
		switch key {
		case "status":
			return d.dec.Decode(&status)
		case "error":
			return d.dec.Decode(&errMsg)
		case "data":
			return d.object(func(key string) error {
				switch key {
				case "resultType":
					var rt string
					if err := d.dec.Decode(&rt); err != nil {
						return err
					}
					if rt != "matrix" {
						return d.errf("resultType %q: want matrix (a range query: /api/v1/query_range)", rt)
					}
					return nil
				case "result":
					d.found = true
					return d.array(func() error {
						s, err := d.series()
						out = append(out, s)
						return err
					})
				}
				return d.skip()
			})
		}
		return d.skip()
	})
	if err != nil {
		return nil, err
	}
	if status != "success" {
		return nil, fmt.Errorf("%s:1: status %q, want success (%s)", name, status, errMsg)
	}
	if !d.found {
		return nil, fmt.Errorf("%s:1: no data.result", name)
	}
	return out, nil
}

// lineAt is the line of the first significant byte at or after off.
func (d *promDoc) lineAt(off int64) int {
	for int(off) < len(d.data) && strings.IndexByte(" \t\r\n,:", d.data[off]) >= 0 {
		off++
	}
	n, _ := slices.BinarySearch(d.nl, int(off))
	return n + 1
}

func (d *promDoc) errf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", d.name, d.lineAt(d.dec.InputOffset()), fmt.Sprintf(format, args...))
}

// wrap turns a decoder error into one with a line.
func (d *promDoc) wrap(err error) error {
	if err == nil {
		return nil
	}
	if strings.HasPrefix(err.Error(), d.name+":") {
		return err
	}
	off := d.dec.InputOffset()
	if se, ok := err.(*json.SyntaxError); ok {
		off = se.Offset
	}
	return fmt.Errorf("%s:%d: %v", d.name, d.lineAt(off), err)
}

func (d *promDoc) delim(want json.Delim) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.wrap(err)
	}
	if tok != want {
		return d.errf("want %q, got %v", want, tok)
	}
	return nil
}

func (d *promDoc) object(field func(key string) error) error {
	if err := d.delim('{'); err != nil {
		return err
	}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return d.wrap(err)
		}
		if err := d.wrap(field(tok.(string))); err != nil {
			return err
		}
	}
	return d.delim('}')
}

func (d *promDoc) array(elem func() error) error {
	if err := d.delim('['); err != nil {
		return err
	}
	for d.dec.More() {
		if err := d.wrap(elem()); err != nil {
			return err
		}
	}
	return d.delim(']')
}

func (d *promDoc) skip() error {
	var v json.RawMessage
	return d.dec.Decode(&v)
}

func (d *promDoc) series() (promSeries, error) {
	s := promSeries{line: d.lineAt(d.dec.InputOffset())}
	err := d.object(func(key string) error {
		switch key {
		case "metric":
			return d.dec.Decode(&s.labels)
		case "value":
			return d.errf("an instant vector: want a range query's matrix")
		case "values":
			return d.array(func() error {
				line := d.lineAt(d.dec.InputOffset())
				var pair []any
				if err := d.dec.Decode(&pair); err != nil {
					return err
				}
				p, err := point(pair)
				if err != nil {
					return fmt.Errorf("%s:%d: %v", d.name, line, err)
				}
				p.line = line
				s.points = append(s.points, p)
				return nil
			})
		}
		return d.skip()
	})
	return s, err
}

// point parses [<unix seconds>, "<value>"].
func point(pair []any) (promPoint, error) {
	if len(pair) != 2 {
		return promPoint{}, fmt.Errorf("want [time, \"value\"], got %d elements", len(pair))
	}
	n, ok := pair[0].(json.Number)
	if !ok {
		return promPoint{}, fmt.Errorf("time %v is not a number", pair[0])
	}
	t, err := n.Float64()
	if err != nil || t < 0 {
		return promPoint{}, fmt.Errorf("bad time %v", n)
	}
	vs, ok := pair[1].(string)
	if !ok {
		return promPoint{}, fmt.Errorf("value %v is not a string", pair[1])
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return promPoint{}, fmt.Errorf("want a finite value >= 0, got %q", vs)
	}
	return promPoint{t: t, v: v}, nil
}

// seriesKey names a container by its labels, less the metric name and the
// resource label.
func seriesKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		if k != "__name__" && k != "resource" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + l[k])
	}
	if b.Len() == 0 {
		return "{}"
	}
	return b.String()
}

// promUsage reads a usage trace from one range-query response whose series
// carry a label resource="cpu" (cores) or resource="memory" (bytes); a
// container's samples are the times where it has both.
func promUsage(name string, data []byte) (*Usage, error) {
	series, err := parseProm(name, data)
	if err != nil {
		return nil, err
	}
	type pair struct {
		cpu, mem map[int64]float64
		line     int
	}
	by := map[string]*pair{}
	for _, s := range series {
		k := seriesKey(s.labels)
		p := by[k]
		if p == nil {
			p = &pair{cpu: map[int64]float64{}, mem: map[int64]float64{}, line: s.line}
			by[k] = p
		}
		var m map[int64]float64
		switch s.labels["resource"] {
		case "cpu":
			m = p.cpu
		case "memory":
			m = p.mem
		default:
			return nil, fmt.Errorf("%s:%d: series %s has resource=%q: want cpu or memory (add it with label_replace, see README)", name, s.line, k, s.labels["resource"])
		}
		for _, pt := range s.points {
			m[int64(math.Round(pt.t))] = pt.v
		}
	}
	b := newUsageBuilder(name)
	for k, p := range by {
		for t, c := range p.cpu {
			if m, ok := p.mem[t]; ok {
				b.add(k, Sample{T: t, CPU: c, Mem: m}, p.line)
			}
		}
	}
	u, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("%w (no time has both a cpu and a memory value)", err)
	}
	return u, nil
}

// promLoad reads a load trace from a range-query response with one series.
func promLoad(name string, data []byte) (*Load, error) {
	series, err := parseProm(name, data)
	if err != nil {
		return nil, err
	}
	if len(series) != 1 {
		return nil, fmt.Errorf("%s:1: %d series, want exactly one (e.g. sum(rate(http_requests_total[1m])))", name, len(series))
	}
	var h holder
	for _, p := range series[0].points {
		if err := h.add(int64(math.Round(p.t)), p.v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, p.line, err)
		}
	}
	return h.load(name)
}
