package bench

import (
	"testing"
	"time"
)

func TestHistQuantileAndSince(t *testing.T) {
	var h Histogram
	for range 99 {
		h.Record(time.Millisecond)
	}
	h.Record(50 * time.Millisecond)
	first := h.Snapshot()
	for range 100 {
		h.Record(10 * time.Millisecond)
	}
	all := h.Snapshot()
	tests := []struct {
		name    string
		hist    Hist
		q       float64
		lo, hi  time.Duration
		wantTot uint64
	}{
		{"first p50", first, 0.50, time.Millisecond, 1100 * time.Microsecond, 100},
		{"first p100", first, 1, 49 * time.Millisecond, 50 * time.Millisecond, 100},
		{"all p99", all, 0.99, 10 * time.Millisecond, 11 * time.Millisecond, 200},
		{"interval p50", all.Since(first), 0.50, 10 * time.Millisecond, 11 * time.Millisecond, 100},
		{"interval p100", all.Since(first), 1, 10 * time.Millisecond, 11 * time.Millisecond, 100},
		{"since itself", all.Since(all), 0.99, 0, 0, 0},
		{"since empty", all.Since(Hist{}), 0.50, time.Millisecond, 11 * time.Millisecond, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.hist.Total(); got != tc.wantTot {
				t.Fatalf("total %d, want %d", got, tc.wantTot)
			}
			if got := tc.hist.Quantile(tc.q); got < tc.lo || got > tc.hi {
				t.Fatalf("q%.2f = %v, want in [%v, %v]", tc.q, got, tc.lo, tc.hi)
			}
		})
	}
}
