package metrics

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkDelivered measures the hub's per-write hook. "parallel" runs it from every P at
// once, as the hub's writers do; Prometheus' own histogram is beside it for reference.
func BenchmarkDelivered(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		lat := make([]int64, n)
		for i := range lat {
			lat[i] = int64(i+1) * 37_000 // 37µs … 2.4ms, several buckets
		}
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			m := New(Options{})
			b.ReportAllocs()
			for b.Loop() {
				m.Delivered(n, lat)
			}
		})
		b.Run("events="+strconv.Itoa(n)+"/parallel", func(b *testing.B) {
			m := New(Options{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.Delivered(n, lat)
				}
			})
		})
		b.Run("events="+strconv.Itoa(n)+"/prometheus-histogram/parallel", func(b *testing.B) {
			h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: latencyBoundsSeconds[:]})
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "y"})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Add(float64(n))
					for _, ns := range lat {
						h.Observe(float64(ns) / 1e9)
					}
				}
			})
		})
	}
}

// BenchmarkScrape measures one Collect of Herald's own metrics (the Go and process
// collectors excluded), which sums the latency stripes.
func BenchmarkScrape(b *testing.B) {
	m := New(Options{})
	c := (*collector)(m)
	ch := make(chan prometheus.Metric, 64)
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}

var sinkIndex int

func BenchmarkIndex(b *testing.B) {
	for b.Loop() {
		for ns := int64(37_000); ns < 64*37_000; ns += 37_000 {
			sinkIndex += index(ns)
		}
	}
}
