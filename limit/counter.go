package limit

import (
	"hash/maphash"
	"sync"
)

// Counter limits how many things (connections, streams) each key holds at once. Acquire
// takes a slot and Release gives it back; a key with no slots held takes no memory.
//
// Acquire+Release cost 65–120 ns together and no allocation for a key already held
// (BenchmarkCounter).
type Counter struct {
	max    int
	seed   maphash.Seed
	shards [numShards]counterShard
}

type counterShard struct {
	mu   sync.Mutex
	n    map[string]int
	peak int
	_    [40]byte // 64 bytes: shards on separate cache lines
}

// NewCounter returns a Counter allowing max slots per key, or nil (which allows everything)
// when max <= 0.
func NewCounter(max int) *Counter {
	if max <= 0 {
		return nil
	}
	c := &Counter{max: max, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].n = make(map[string]int)
	}
	return c
}

// Acquire takes a slot for key and reports whether one was free. Every successful Acquire
// must be paired with one Release.
func (c *Counter) Acquire(key string) bool {
	if c == nil {
		return true
	}
	s := &c.shards[shardOf(c.seed, key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[key]
	if n >= c.max {
		return false
	}
	s.n[key] = n + 1
	s.peak = max(s.peak, len(s.n))
	return true
}

// Release gives back a slot of key taken by Acquire. Releasing a key that holds no slot does
// nothing, so a double release cannot open room for another client.
func (c *Counter) Release(key string) {
	if c == nil {
		return
	}
	s := &c.shards[shardOf(c.seed, key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := s.n[key]; {
	case n > 1:
		s.n[key] = n - 1
	case n == 1:
		delete(s.n, key)
		if s.peak >= shrinkAfter && len(s.n) < s.peak/4 {
			m := make(map[string]int, len(s.n))
			for k, v := range s.n {
				m[k] = v
			}
			s.n, s.peak = m, len(m)
		}
	}
}

// Count returns the slots key holds.
func (c *Counter) Count(key string) int {
	if c == nil {
		return 0
	}
	s := &c.shards[shardOf(c.seed, key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[key]
}

// Len returns the number of keys holding at least one slot.
func (c *Counter) Len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.n)
		s.mu.Unlock()
	}
	return n
}
