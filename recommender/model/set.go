package model

import "time"

// Set holds the aggregates of a recommender, keyed by VPA and container
// name. Not safe for concurrent use.
type Set struct {
	p *Params
	m map[Key]*Aggregate
}

// NewSet returns an empty set using p.
func NewSet(p *Params) *Set { return &Set{p: p, m: map[Key]*Aggregate{}} }

// Params returns the set's configuration.
func (s *Set) Params() *Params { return s.p }

// Get returns the aggregate for k, or nil.
func (s *Set) Get(k Key) *Aggregate { return s.m[k] }

// GetOrCreate returns the aggregate for k, creating it (at now) if needed.
func (s *Set) GetOrCreate(k Key, now time.Time) *Aggregate {
	a := s.m[k]
	if a == nil {
		a = NewAggregate(s.p, now)
		s.m[k] = a
	}
	return a
}

// Put sets the aggregate for k (a restored checkpoint); a must use the
// set's Params.
func (s *Set) Put(k Key, a *Aggregate) { s.m[k] = a }

// Delete drops k.
func (s *Set) Delete(k Key) { delete(s.m, k) }

// Reset drops every aggregate.
func (s *Set) Reset() { clear(s.m) }

// Len is the number of aggregates.
func (s *Set) Len() int { return len(s.m) }

// Range calls f for each aggregate until f returns false.
func (s *Set) Range(f func(Key, *Aggregate) bool) {
	for k, a := range s.m {
		if !f(k, a) {
			return
		}
	}
}

// DeleteExpired drops every aggregate expired at now and returns how many.
func (s *Set) DeleteExpired(now time.Time) int {
	n := 0
	for k, a := range s.m {
		if a.Expired(now) {
			delete(s.m, k)
			n++
		}
	}
	return n
}
