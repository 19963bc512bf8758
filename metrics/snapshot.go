package metrics

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"time"

	"github.com/heraldpush/herald/hub"
)

// Snapshot is the dashboard's view of a node, published once per second as the data of a
// "stats" event on the herald:stats topic. Totals count since the process started; rates and
// percentiles cover the last few seconds (Options.RateWindow, Options.LatencyWindow) and are
// computed from the samples Sample takes. Example:
//
//	{
//	  "time": "2026-01-02T15:04:05Z",
//	  "uptimeSeconds": 3600.5,
//	  "connections": 9998,
//	  "connectionsTotal": 12034,
//	  "topics": 42,
//	  "engineUp": true,
//	  "publishedTotal": 360000,
//	  "deliveredTotal": 36000000,
//	  "replayedTotal": 1200,
//	  "publishRate": 10,
//	  "deliveryRate": 99980,
//	  "rateWindowSeconds": 5,
//	  "latency": {"p50": 0.0012, "p90": 0.0041, "p99": 0.0093, "count": 999800, "windowSeconds": 10},
//	  "disconnects": {"client_closed": 2000, "lifetime": 30, "slow_consumer": 4, "shutdown": 0, "final": 2, "error": 0},
//	  "resets": {"expired": 1, "epoch": 0, "malformed": 0, "mismatch": 0},
//	  "goroutines": 57,
//	  "heapBytes": 41943040
//	}
//
// "latency" is absent when nothing was delivered in its window; rates are 0 until Sample has
// run twice. Durations are in seconds.
type Snapshot struct {
	Time              time.Time         `json:"time"`
	UptimeSeconds     float64           `json:"uptimeSeconds"`
	Connections       int64             `json:"connections"`
	ConnectionsTotal  uint64            `json:"connectionsTotal"`
	Topics            int64             `json:"topics"`
	EngineUp          bool              `json:"engineUp"`
	PublishedTotal    uint64            `json:"publishedTotal"`
	DeliveredTotal    uint64            `json:"deliveredTotal"`
	ReplayedTotal     uint64            `json:"replayedTotal"`
	PublishRate       float64           `json:"publishRate"`  // events/s
	DeliveryRate      float64           `json:"deliveryRate"` // deliveries/s
	RateWindowSeconds float64           `json:"rateWindowSeconds"`
	Latency           *LatencySnapshot  `json:"latency,omitempty"`
	Disconnects       map[string]uint64 `json:"disconnects"`
	Resets            map[string]uint64 `json:"resets"`
	Goroutines        int               `json:"goroutines"`
	HeapBytes         uint64            `json:"heapBytes"`
}

// LatencySnapshot holds delivery latency percentiles, in seconds, over a recent window. They
// are interpolated inside herald_delivery_latency_seconds' buckets exactly as PromQL's
// histogram_quantile would, so the dashboard and Prometheus agree.
type LatencySnapshot struct {
	P50           float64 `json:"p50"`
	P90           float64 `json:"p90"`
	P99           float64 `json:"p99"`
	Count         uint64  `json:"count"` // deliveries in the window
	WindowSeconds float64 `json:"windowSeconds"`
}

// sample is one reading of the counters behind the recent-window figures.
type sample struct {
	t         time.Time
	published uint64
	lat       latencyCounts
}

// sampler keeps the samples of the last max(RateWindow, LatencyWindow), oldest first, and
// the figures computed from them at the last Sample.
type sampler struct {
	m *Metrics

	mu           sync.Mutex
	samples      []sample
	publishRate  float64
	deliveryRate float64
	rateWindow   time.Duration // covered by the rates, 0 until two samples exist
	latency      *LatencySnapshot
}

func (s *sampler) init(m *Metrics) { s.m = m }

// Sample reads the counters and updates the recent-window rates and percentiles that
// Snapshot reports. The server calls it once per second, just before Snapshot.
func (m *Metrics) Sample() {
	s := &m.sampler
	cur := sample{t: m.opts.Now(), published: m.published.Load(), lat: m.latency.read()}

	s.mu.Lock()
	defer s.mu.Unlock()
	keep := max(m.opts.RateWindow, m.opts.LatencyWindow)
	// Drop samples that no window needs any more.
	i := 0
	for i < len(s.samples) && cur.t.Sub(s.samples[i].t) > keep {
		i++
	}
	s.samples = append(s.samples[:0], s.samples[i:]...)

	if base, ok := s.oldestWithinLocked(cur.t, m.opts.RateWindow); ok {
		secs := cur.t.Sub(base.t).Seconds()
		s.publishRate = float64(cur.published-base.published) / secs
		s.deliveryRate = float64(cur.lat.delivered-base.lat.delivered) / secs
		s.rateWindow = cur.t.Sub(base.t)
	} else {
		s.publishRate, s.deliveryRate, s.rateWindow = 0, 0, 0
	}

	s.latency = nil
	if base, ok := s.oldestWithinLocked(cur.t, m.opts.LatencyWindow); ok {
		d := cur.lat.sub(base.lat)
		p50, ok := d.quantile(0.50)
		if ok {
			p90, _ := d.quantile(0.90)
			p99, _ := d.quantile(0.99)
			s.latency = &LatencySnapshot{
				P50: p50.Seconds(), P90: p90.Seconds(), P99: p99.Seconds(),
				Count: d.count(), WindowSeconds: cur.t.Sub(base.t).Seconds(),
			}
		}
	}
	s.samples = append(s.samples, cur)
}

// oldestWithinLocked returns the oldest sample taken at most window before now and strictly
// before it.
func (s *sampler) oldestWithinLocked(now time.Time, window time.Duration) (sample, bool) {
	for _, old := range s.samples {
		if age := now.Sub(old.t); age <= window && age > 0 {
			return old, true
		}
	}
	return sample{}, false
}

// heapMetric is the runtime/metrics name for live and not-yet-swept heap objects, the same
// figure as runtime.MemStats.HeapAlloc without stopping the world.
const heapMetric = "/memory/classes/heap/objects:bytes"

// Snapshot returns the node's current figures for the dashboard. Totals and gauges are read
// now; rates and percentiles are those of the last Sample.
func (m *Metrics) Snapshot() Snapshot {
	now := m.opts.Now()
	snap := Snapshot{
		Time:             now.UTC(),
		UptimeSeconds:    now.Sub(m.started).Seconds(),
		Connections:      m.connections.Load(),
		ConnectionsTotal: m.connectionsTotal.Load(),
		Topics:           m.topics.Load(),
		EngineUp:         m.engineUp.Load(),
		PublishedTotal:   m.published.Load(),
		DeliveredTotal:   m.latency.read().delivered,
		ReplayedTotal:    m.replayed.Load(),
		Disconnects:      make(map[string]uint64, len(m.disconnects)),
		Resets:           make(map[string]uint64, len(m.resets)),
		Goroutines:       runtime.NumGoroutine(),
	}
	for _, r := range hub.Reasons() {
		snap.Disconnects[r.String()] = m.disconnects[r].Load()
	}
	for i, r := range resetReasons {
		snap.Resets[string(r)] = m.resets[i].Load()
	}
	m.mu.Lock()
	for r, v := range m.otherDisconn {
		snap.Disconnects[r] = v
	}
	for r, v := range m.otherResets {
		snap.Resets[r] = v
	}
	m.mu.Unlock()

	s := &m.sampler
	s.mu.Lock()
	snap.PublishRate = s.publishRate
	snap.DeliveryRate = s.deliveryRate
	snap.RateWindowSeconds = s.rateWindow.Seconds()
	if s.latency != nil {
		l := *s.latency
		snap.Latency = &l
	}
	s.mu.Unlock()

	rs := []rtmetrics.Sample{{Name: heapMetric}}
	rtmetrics.Read(rs)
	if rs[0].Value.Kind() == rtmetrics.KindUint64 {
		snap.HeapBytes = rs[0].Value.Uint64()
	}
	return snap
}
