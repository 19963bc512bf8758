package metrics

import (
	"testing"
	"time"
)

func TestIndex(t *testing.T) {
	tests := []struct {
		ns   int64
		want int
	}{
		{0, 0},
		{1, 0},
		{100e3, 0},      // exactly 100µs: le="0.0001"
		{100e3 + 1, 1},  // just above
		{200e3, 1},      // 200µs
		{300e3, 2},      // 300µs → le 500µs
		{999e3, 3},      // → 1ms
		{1e6, 3},        // 1ms
		{1e6 + 1, 4},    // → 2ms
		{7e6, 6},        // → 10ms
		{1e9, 12},       // 1s
		{1500e6, 13},    // → 2s
		{10e9, 15},      // 10s
		{10e9 + 1, 16},  // +Inf
		{1 << 62, 16},   // far beyond
		{1<<63 - 1, 16}, // max
		{(1 << 17), 1},  // 131µs, an octave boundary
		{(1 << 17) - 1, 1},
	}
	for _, tt := range tests {
		if got := index(tt.ns); got != tt.want {
			t.Errorf("index(%d) = %d, want %d", tt.ns, got, tt.want)
		}
	}
	// Exhaustive against a linear search around every bound.
	for _, b := range latencyBounds {
		for _, ns := range []int64{b - 1, b, b + 1, b / 2, b * 3 / 2} {
			want := len(latencyBounds)
			for i, bb := range latencyBounds {
				if ns <= bb {
					want = i
					break
				}
			}
			if got := index(ns); got != want {
				t.Errorf("index(%d) = %d, want %d", ns, got, want)
			}
		}
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name    string
		observe []time.Duration
		q       float64
		want    time.Duration
		ok      bool
	}{
		{"empty", nil, 0.5, 0, false},
		// 100 values in (1ms, 2ms]: p50 interpolates to the middle of the bucket.
		{"one bucket p50", repeat(1500*time.Microsecond, 100), 0.5, 1500 * time.Microsecond, true},
		{"one bucket p99", repeat(1500*time.Microsecond, 100), 0.99, 1990 * time.Microsecond, true},
		// First bucket starts at 0.
		{"first bucket", repeat(50*time.Microsecond, 10), 0.5, 50 * time.Microsecond, true},
		{"overflow answers last bound", repeat(time.Minute, 10), 0.99, 10 * time.Second, true},
		// 90 fast and 10 slow: p90 is at the top of the fast bucket, p99 among the slow.
		{"mixed p90", append(repeat(150*time.Microsecond, 90), repeat(400*time.Millisecond, 10)...), 0.9, 200 * time.Microsecond, true},
		{"mixed p99", append(repeat(150*time.Microsecond, 90), repeat(400*time.Millisecond, 10)...), 0.99, 470 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLatencyHist()
			for _, d := range tt.observe {
				h.observe(1, []int64{int64(d)})
			}
			c := h.read()
			got, ok := c.quantile(tt.q)
			if ok != tt.ok || got != tt.want {
				t.Errorf("quantile(%v) = %v, %v; want %v, %v", tt.q, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func TestObserveCountsAndSum(t *testing.T) {
	h := newLatencyHist()
	h.observe(3, []int64{1e6, 2e6, -5}) // a negative latency counts as 0
	h.observe(2, nil)                   // deliveries without latencies
	c := h.read()
	if c.delivered != 5 {
		t.Errorf("delivered = %d, want 5", c.delivered)
	}
	if c.count() != 3 {
		t.Errorf("count = %d, want 3", c.count())
	}
	if c.sumNanos != 3e6 {
		t.Errorf("sum = %d, want 3e6", c.sumNanos)
	}
}
