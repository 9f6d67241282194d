package adaptive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// CheckpointVersion is the version of Marshal's encoding; Unmarshal
// refuses others (3: the forecasts for the hour being scored and for the
// coming hour are kept apart).
const CheckpointVersion = 3

// checkpointMagic starts every encoding: "tadp" and the version.
var checkpointMagic = [4]byte{'t', 'a', 'd', 'p'}

// Marshal encodes the history (what Recommend and Add need: hourly peaks,
// the forecasts for the hour being scored and for the coming hour, their
// decayed scores) for a checkpoint: little-endian, versioned, ~5 KB with
// the default candidates.
func (s *State) Marshal() []byte {
	var b bytes.Buffer
	b.Write(checkpointMagic[:])
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(uint16(CheckpointVersion))
	w(uint16(len(s.fc[CPU])))
	w(uint16(len(s.fc[Memory])))
	w(s.peak)
	w(s.hourOf)
	for r := range 2 {
		w(s.fc[r])
		w(s.next[r])
		for _, c := range s.sc[r] {
			w([3]float32{c.miss, c.short, c.cost})
		}
	}
	w(s.used)
	w(s.n)
	w([7]int64{s.scoredAt, s.scoredN, s.first, s.last, s.samples, s.fcHour, s.nextHour})
	return b.Bytes()
}

// Unmarshal decodes what Marshal wrote into a State for cfg's candidates.
// It refuses, with an error saying why, another version, another number of
// candidates (the configuration changed: the scores would mean other
// forecasts), truncated or trailing bytes, and values no history can
// hold (negative or non-finite peaks, scores or counts).
func Unmarshal(cfg *Config, data []byte) (*State, error) {
	rd := bytes.NewReader(data)
	var magic [4]byte
	var hdr [3]uint16
	if err := binary.Read(rd, binary.LittleEndian, &magic); err != nil || magic != checkpointMagic {
		return nil, errors.New("not an adaptive policy checkpoint")
	}
	if err := binary.Read(rd, binary.LittleEndian, &hdr); err != nil {
		return nil, errors.New("truncated header")
	}
	if hdr[0] != CheckpointVersion {
		return nil, fmt.Errorf("version %d, this Tailor reads %d", hdr[0], CheckpointVersion)
	}
	s := New(cfg)
	for r := range 2 {
		if int(hdr[1+r]) != len(s.fc[r]) {
			return nil, fmt.Errorf("%d candidates for resource %d, the configuration has %d", hdr[1+r], r, len(s.fc[r]))
		}
	}
	var scores [2][][3]float32
	for r := range 2 {
		scores[r] = make([][3]float32, len(s.sc[r]))
	}
	var tail [7]int64
	for _, v := range []any{&s.peak, &s.hourOf, s.fc[CPU], s.next[CPU], scores[CPU], s.fc[Memory], s.next[Memory], scores[Memory], &s.used, &s.n, &tail} {
		if err := binary.Read(rd, binary.LittleEndian, v); err != nil {
			return nil, errors.New("truncated")
		}
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("%d bytes after the end", rd.Len())
	}
	s.scoredAt, s.scoredN, s.first, s.last, s.samples, s.fcHour, s.nextHour = tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6]
	for r := range 2 {
		for k, c := range scores[r] {
			s.sc[r][k] = score{miss: c[0], short: c[1], cost: c[2]}
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check refuses values no history holds.
func (s *State) check() error {
	bad := func(f float32) bool { return !(f >= 0) || math.IsInf(float64(f), 0) }
	for i := range s.peak {
		if s.hourOf[i] < -1 || bad(s.peak[i][0]) || bad(s.peak[i][1]) {
			return fmt.Errorf("hour slot %d: hour %d, peaks %v", i, s.hourOf[i], s.peak[i])
		}
	}
	for r := range 2 {
		for k := range s.fc[r] {
			c := s.sc[r][k]
			if bad(s.fc[r][k]) || bad(s.next[r][k]) || bad(c.miss) || bad(c.short) || bad(c.cost) {
				return fmt.Errorf("candidate %d of resource %d: forecast %v, scores %+v", k, r, s.fc[r][k], c)
			}
		}
		if bad(s.used[r]) {
			return fmt.Errorf("usage sum %v", s.used[r])
		}
	}
	if bad(s.n) || s.samples < 0 || s.scoredN < 0 || s.first > s.last {
		return fmt.Errorf("counts: n %v, samples %d, scored %d s, first %d after last %d", s.n, s.samples, s.scoredN, s.first, s.last)
	}
	// Hours are kept as int32: a time whose hour does not fit (or before
	// 1970) is no sample time, and Add would write a slot check refuses.
	if s.first < 0 || s.last/hour >= math.MaxInt32 {
		return fmt.Errorf("sample times %d to %d (Unix seconds) out of range", s.first, s.last)
	}
	// Forecast hours: -1 (none) or an hour that fits; they multiply by
	// the hour's seconds when put in force.
	for _, h := range []int64{s.fcHour, s.nextHour} {
		if h < -1 || h >= math.MaxInt32 {
			return fmt.Errorf("forecast hours %d, %d out of range", s.fcHour, s.nextHour)
		}
	}
	return nil
}
