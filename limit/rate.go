package limit

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys is the number of keys a Rate tracks at most when NewRate is given 0.
const DefaultMaxKeys = 100_000

// Rate is a keyed token-bucket limiter: each key may do Burst operations at once and then
// PerSecond on average. It keeps one int64 per key (the GCRA "theoretical arrival time")
// and forgets a key once its bucket is full again.
//
// Allow costs 70–150 ns and no allocation (BenchmarkRateAllow*, 2 shared cores).
type Rate struct {
	interval int64 // nanoseconds between two tokens
	tol      int64 // how far the arrival time may run ahead of now: burst × interval
	perShard int
	// sweepEvery is the time-based sweep period: a full refill, at least a second.
	sweepEvery int64
	seed       maphash.Seed
	epoch      time.Time // monotonic base of the int64 times
	shards     [numShards]rateShard
}

type rateShard struct {
	mu   sync.Mutex
	tat  map[string]int64 // theoretical arrival time per key, ns since epoch
	ops  int              // Allow calls since the last sweep
	last int64            // time of the last sweep, ns since epoch
	peak int              // largest len(tat) since the map was built
	_    [24]byte         // 64 bytes: shards on separate cache lines
}

// NewRate returns a limiter of perSecond operations per key on average with bursts of burst
// (at least 1), tracking at most maxKeys keys (DefaultMaxKeys when 0). It returns nil, which
// allows everything, when perSecond <= 0.
func NewRate(perSecond float64, burst, maxKeys int) *Rate {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	interval := int64(float64(time.Second) / perSecond)
	if interval < 1 {
		interval = 1
	}
	l := &Rate{
		interval:   interval,
		tol:        int64(burst) * interval,
		perShard:   max(1, maxKeys/numShards),
		sweepEvery: max(int64(burst)*interval, int64(time.Second)),
		seed:       maphash.MakeSeed(),
		epoch:      time.Now(),
	}
	for i := range l.shards {
		l.shards[i].tat = make(map[string]int64)
	}
	return l
}

// Allow takes one token from key's bucket. When the bucket is empty it returns false and
// how long until a token is available (for a Retry-After header).
func (l *Rate) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := int64(time.Since(l.epoch))
	s := &l.shards[shardOf(l.seed, key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	tat, known := s.tat[key]
	if tat < now {
		tat = now
	}
	next := tat + l.interval
	if next-now > l.tol {
		return false, time.Duration(next - now - l.tol)
	}
	if !known {
		// Sweeping costs len(s.tat); doing it once per len/2 calls keeps Allow O(1)
		// amortized, also under a flood of new keys at the MaxKeys cap. Once per refill
		// period it also runs on time, so a shard that went quiet gives its memory back.
		if 2*s.ops >= len(s.tat) || now-s.last >= l.sweepEvery {
			s.sweepLocked(now)
		}
		if len(s.tat) >= l.perShard {
			s.evictOneLocked()
		}
	}
	s.tat[key] = next
	s.peak = max(s.peak, len(s.tat))
	return true, 0
}

// sweepLocked forgets every key whose bucket is full again (its arrival time has passed), and
// rebuilds the map when it shrank to a quarter of its peak.
func (s *rateShard) sweepLocked(now int64) {
	s.ops, s.last = 0, now
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	if s.peak >= shrinkAfter && len(s.tat) < s.peak/4 {
		m := make(map[string]int64, len(s.tat))
		for k, v := range s.tat {
			m[k] = v
		}
		s.tat, s.peak = m, len(m)
	}
}

// evictOneLocked drops the entry nearest to a full bucket among a few sampled ones (map
// iteration starts at a random place). That key gets a fresh bucket: under a flood of more
// keys than MaxKeys the limit is approximate, but memory stays bounded.
func (s *rateShard) evictOneLocked() {
	const samples = 8
	var victim string
	oldest, n := int64(0), 0
	for k, tat := range s.tat {
		if n == 0 || tat < oldest {
			victim, oldest = k, tat
		}
		if n++; n == samples {
			break
		}
	}
	if n > 0 {
		delete(s.tat, victim)
	}
}

// Len returns the number of keys currently tracked.
func (l *Rate) Len() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
