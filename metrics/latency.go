package metrics

import (
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of herald_delivery_latency_seconds, in nanoseconds:
// a 1-2-5 series from 100µs to 10s. Consecutive bounds are at least a factor of two apart,
// which latencyHist.index relies on: each power-of-two octave holds at most one bound.
var latencyBounds = [...]int64{
	100e3, 200e3, 500e3, // 100µs 200µs 500µs
	1e6, 2e6, 5e6, // 1ms 2ms 5ms
	10e6, 20e6, 50e6, // 10ms 20ms 50ms
	100e6, 200e6, 500e6, // 100ms 200ms 500ms
	1e9, 2e9, 5e9, // 1s 2s 5s
	10e9, // 10s
}

// numLatencyBuckets counts the finite buckets plus +Inf.
const numLatencyBuckets = len(latencyBounds) + 1

// firstBound maps a value's bit length L (value in [2^(L-1), 2^L)) to the smallest bucket
// whose bound is at least 2^(L-1). The value then falls in that bucket or the next one.
var firstBound = func() (t [65]uint8) {
	for l := range t {
		lo := int64(0)
		if l > 0 && l < 64 {
			lo = int64(1) << (l - 1)
		}
		i := 0
		for i < len(latencyBounds) && latencyBounds[i] < lo {
			i++
		}
		if l == 64 {
			i = len(latencyBounds)
		}
		t[l] = uint8(i)
	}
	return t
}()

// latencyShard is one stripe of the delivery histogram. Writers pick a stripe at random so
// that two cores rarely add to the same cache line; the padding keeps stripes apart.
type latencyShard struct {
	buckets  [numLatencyBuckets]atomic.Uint64 // non-cumulative counts
	sumNanos atomic.Uint64
	// extraDelivered is deliveries minus latencies recorded: events delivered is the
	// histogram's count plus this (it wraps below zero when a caller passes more latencies
	// than events, and the sum still comes out right).
	extraDelivered atomic.Uint64
	_              [64 - (numLatencyBuckets*8+16)%64]byte
}

// latencyHist is a lock-free, striped histogram of delivery latencies. Observing costs a few
// atomic adds on a stripe that is rarely shared; reading sums the stripes. It is read on
// scrape by the collector and once per second by Sample.
type latencyHist struct {
	shards []latencyShard
	mask   uint32
}

func newLatencyHist() *latencyHist {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) {
		n <<= 1
	}
	return &latencyHist{shards: make([]latencyShard, n), mask: uint32(n - 1)}
}

// index returns the bucket of a latency in nanoseconds: the smallest i with
// ns <= latencyBounds[i], or len(latencyBounds) for +Inf.
func index(ns int64) int {
	i := int(firstBound[bits.Len64(uint64(ns))])
	if i < len(latencyBounds) && ns > latencyBounds[i] {
		i++
	}
	return i
}

// observe records n deliveries and their latencies (nanoseconds; negative values, from a
// publisher clock ahead of ours, count as zero).
//
// Atomic adds are the cost here (about 10–20 ns each on a shared core), so it makes as few
// as it can: deliveries are only counted apart when n differs from len(latency) (the
// histogram's count is the rest), a single event touches one bucket and the sum, and a
// batch is tallied on the stack first so that events of one write, usually published
// moments apart, share one add per bucket.
func (h *latencyHist) observe(n int, latency []int64) {
	s := &h.shards[rand.Uint32()&h.mask]
	if extra := n - len(latency); extra != 0 {
		s.extraDelivered.Add(uint64(extra))
	}
	switch len(latency) {
	case 0:
		return
	case 1:
		ns := max(latency[0], 0)
		s.buckets[index(ns)].Add(1)
		if ns > 0 {
			s.sumNanos.Add(uint64(ns))
		}
		return
	}
	var (
		tally   [numLatencyBuckets]uint32
		touched uint32 // bit i set: tally[i] > 0
		sum     uint64
	)
	for _, ns := range latency {
		ns = max(ns, 0)
		i := index(ns)
		tally[i]++
		touched |= 1 << i
		sum += uint64(ns)
	}
	for touched != 0 {
		i := bits.TrailingZeros32(touched)
		touched &= touched - 1
		s.buckets[i].Add(uint64(tally[i]))
	}
	if sum > 0 {
		s.sumNanos.Add(sum)
	}
}

// latencyCounts is a point-in-time read of the histogram.
type latencyCounts struct {
	buckets   [numLatencyBuckets]uint64 // non-cumulative
	sumNanos  uint64
	delivered uint64
}

func (h *latencyHist) read() (c latencyCounts) {
	for i := range h.shards {
		s := &h.shards[i]
		for b := range s.buckets {
			c.buckets[b] += s.buckets[b].Load()
		}
		c.sumNanos += s.sumNanos.Load()
		c.delivered += s.extraDelivered.Load()
	}
	c.delivered += c.count()
	return c
}

// count returns the number of latencies recorded.
func (c *latencyCounts) count() uint64 {
	var n uint64
	for _, b := range c.buckets {
		n += b
	}
	return n
}

// sub returns c - old, bucket by bucket.
func (c latencyCounts) sub(old latencyCounts) latencyCounts {
	for i := range c.buckets {
		c.buckets[i] -= old.buckets[i]
	}
	c.sumNanos -= old.sumNanos
	c.delivered -= old.delivered
	return c
}

// quantile estimates the q-quantile the way PromQL's histogram_quantile does: find the
// bucket holding rank q·count and interpolate linearly inside it. A rank in the +Inf bucket
// answers the highest finite bound. ok is false when there is nothing to estimate from.
func (c *latencyCounts) quantile(q float64) (d time.Duration, ok bool) {
	total := c.count()
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var seen uint64
	for i, n := range c.buckets {
		if n == 0 || float64(seen+n) < rank {
			seen += n
			continue
		}
		if i == len(latencyBounds) {
			return time.Duration(latencyBounds[len(latencyBounds)-1]), true
		}
		lo := int64(0)
		if i > 0 {
			lo = latencyBounds[i-1]
		}
		hi := latencyBounds[i]
		frac := (rank - float64(seen)) / float64(n)
		return time.Duration(float64(lo) + frac*float64(hi-lo)), true
	}
	return time.Duration(latencyBounds[len(latencyBounds)-1]), true
}
