package bench

import (
	"encoding/json"
	"math/bits"
	"sync/atomic"
	"time"
)

// The latency histogram has fixed log-linear buckets, as HDR histograms do: values below
// 2^subBits ns each have their own bucket, and every power of two above that is split into
// 2^subBits equal buckets, so any recorded value is off by less than 1/2^subBits (3.1%)
// of itself. Values are clamped to maxLatency. Fixed buckets merge by adding counts, across
// goroutines and across worker processes alike.
const (
	subBits    = 5
	subCount   = 1 << subBits
	maxLatency = 60 * time.Second
)

// numBuckets covers 0 … 2^36 ns (68.7 s), above maxLatency.
const numBuckets = 32 * subCount

// bucketOf returns the bucket index of v nanoseconds (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // 2^e <= v < 2^(e+1), e >= subBits
	sub := int(v>>(e-subBits)) & (subCount - 1)
	return (e-subBits+1)*subCount + sub
}

// bucketLow returns the smallest value of bucket i; bucketHigh the largest.
func bucketLow(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/subCount + subBits - 1
	sub := int64(i % subCount)
	return (1 << e) + sub<<(e-subBits)
}

func bucketHigh(i int) int64 { return bucketLow(i+1) - 1 }

// Histogram counts latencies in fixed buckets. The zero value is ready; Record is safe for
// concurrent use (one atomic add per value), everything else wants a quiescent histogram or
// a Snapshot.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Int64
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) { h.RecordN(d, 1) }

// RecordN adds n equal latencies: a read that delivers several events at once records them
// with one add.
func (h *Histogram) RecordN(d time.Duration, n uint64) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if v > int64(maxLatency) {
		v = int64(maxLatency)
	}
	h.counts[bucketOf(v)].Add(n)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot returns a copy of the counts.
func (h *Histogram) Snapshot() Hist {
	var s Hist
	s.Counts = make([]uint64, numBuckets)
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Max = h.max.Load()
	return s
}

// Hist is a plain (non-atomic) histogram: a snapshot, or the merge of several. Its JSON
// form is sparse: [[bucket, count], …] plus the exact maximum, so that worker processes can
// send theirs to the parent cheaply.
type Hist struct {
	Counts []uint64
	Max    int64 // largest value recorded, in ns
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o Hist) {
	if len(h.Counts) < len(o.Counts) {
		h.Counts = append(h.Counts, make([]uint64, len(o.Counts)-len(h.Counts))...)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Max = max(h.Max, o.Max)
}

// Since returns the values h recorded after the earlier snapshot o of the same histogram
// (its maximum is h's: the exact maximum of the interval is not kept).
func (h Hist) Since(o Hist) Hist {
	d := Hist{Counts: make([]uint64, len(h.Counts)), Max: h.Max}
	for i, c := range h.Counts {
		if i < len(o.Counts) {
			c -= min(c, o.Counts[i])
		}
		d.Counts[i] = c
	}
	return d
}

// Total returns the number of values recorded.
func (h Hist) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile returns the value at quantile q (0 < q <= 1) as the upper end of its bucket
// (never above the exact maximum); 0 when empty.
func (h Hist) Quantile(q float64) time.Duration {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.Max))
		}
	}
	return time.Duration(h.Max)
}

type histJSON struct {
	Buckets [][2]uint64 `json:"b"`
	Max     int64       `json:"max"`
}

// MarshalJSON writes the sparse form.
func (h Hist) MarshalJSON() ([]byte, error) {
	j := histJSON{Max: h.Max, Buckets: [][2]uint64{}}
	for i, c := range h.Counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the sparse form.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	h.Counts = make([]uint64, numBuckets)
	h.Max = j.Max
	for _, bc := range j.Buckets {
		if bc[0] < uint64(len(h.Counts)) {
			h.Counts[bc[0]] += bc[1]
		}
	}
	return nil
}
