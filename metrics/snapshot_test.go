package metrics

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/heraldpush/herald/hub"
)

// fakeClock is a hand-driven Options.Now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestSnapshotRates(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)}
	m := New(Options{Now: clock.now, RateWindow: 5 * time.Second, LatencyWindow: 10 * time.Second})

	m.Sample()
	if s := m.Snapshot(); s.PublishRate != 0 || s.DeliveryRate != 0 || s.Latency != nil {
		t.Fatalf("first sample: rates %v %v latency %v, want zeros and no latency", s.PublishRate, s.DeliveryRate, s.Latency)
	}

	// Each second: 10 published, 1000 delivered, all at 1.5ms.
	lat := make([]int64, 100)
	for i := range lat {
		lat[i] = int64(1500 * time.Microsecond)
	}
	second := func(published, writes int) {
		m.Published(published)
		for range writes {
			m.Delivered(len(lat), lat)
		}
		clock.advance(time.Second)
		m.Sample()
	}
	tests := []struct {
		name                 string
		published, writes    int
		wantPublish, wantDel float64
		wantWindow           float64
	}{
		{"1s in", 10, 10, 10, 1000, 1},
		{"2s in", 10, 10, 10, 1000, 2},
		{"5s in", 10, 10, 10, 1000, 5},
		{"window slides", 10, 10, 10, 1000, 5},
		{"burst enters", 60, 10, 20, 1000, 5}, // (10·4 + 60) / 5
		{"quiet", 0, 0, 18, 800, 5},           // (10·3 + 60 + 0) / 5
	}
	// Run "5s in" after two more ordinary seconds.
	for i, tt := range tests {
		if tt.name == "5s in" {
			second(10, 10)
			second(10, 10)
		}
		second(tt.published, tt.writes)
		s := m.Snapshot()
		if s.PublishRate != tt.wantPublish || s.DeliveryRate != tt.wantDel || s.RateWindowSeconds != tt.wantWindow {
			t.Errorf("%d %s: publish %v/s, delivery %v/s over %vs; want %v, %v over %v",
				i, tt.name, s.PublishRate, s.DeliveryRate, s.RateWindowSeconds, tt.wantPublish, tt.wantDel, tt.wantWindow)
		}
	}

	s := m.Snapshot()
	if s.Latency == nil {
		t.Fatal("no latency after deliveries")
	}
	if got := s.Latency.P50; math.Abs(got-0.0015) > 1e-9 {
		t.Errorf("p50 = %v, want 0.0015", got)
	}
	if s.Latency.WindowSeconds != 8 { // 8 seconds have passed, less than the window
		t.Errorf("latency window = %v, want 8", s.Latency.WindowSeconds)
	}
	// Ten quiet seconds: the window empties, latency disappears, rates drop to zero.
	for range 10 {
		second(0, 0)
	}
	s = m.Snapshot()
	if s.Latency != nil || s.PublishRate != 0 || s.DeliveryRate != 0 {
		t.Errorf("after quiet: latency %+v, rates %v %v; want none", s.Latency, s.PublishRate, s.DeliveryRate)
	}
	if want := 18 * time.Second; s.UptimeSeconds != want.Seconds() {
		t.Errorf("uptime = %v, want %v", s.UptimeSeconds, want.Seconds())
	}
	if len(m.sampler.samples) > 11 {
		t.Errorf("sampler keeps %d samples, want at most 11", len(m.sampler.samples))
	}
}

func TestSnapshotGaugesAndJSON(t *testing.T) {
	m := New(Options{})
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed(hub.ConnInfo{Reason: hub.ReasonLifetime})
	m.SetTopics(4)
	m.SetEngineUp(true)
	m.Reset("epoch")
	m.Sample()
	s := m.Snapshot()
	if s.Connections != 1 || s.ConnectionsTotal != 2 || s.Topics != 4 || !s.EngineUp {
		t.Errorf("gauges: %+v", s)
	}
	if s.Disconnects["lifetime"] != 1 || s.Resets["epoch"] != 1 {
		t.Errorf("disconnects %v resets %v", s.Disconnects, s.Resets)
	}
	if len(s.Disconnects) != len(hub.Reasons()) {
		t.Errorf("disconnects has %d reasons, want all %d", len(s.Disconnects), len(hub.Reasons()))
	}
	if s.Goroutines <= 0 || s.HeapBytes == 0 {
		t.Errorf("runtime: goroutines %d heap %d", s.Goroutines, s.HeapBytes)
	}

	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "uptimeSeconds", "connections", "connectionsTotal", "topics",
		"engineUp", "publishedTotal", "deliveredTotal", "replayedTotal", "publishRate",
		"deliveryRate", "rateWindowSeconds", "disconnects", "resets", "goroutines", "heapBytes"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if _, ok := doc["latency"]; ok {
		t.Errorf("JSON has latency without deliveries: %s", b)
	}
}
