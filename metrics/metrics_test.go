package metrics

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heraldpush/herald/hub"
)

// scrape fetches the handler over real HTTP and parses the exposition text.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

// value returns the value of the series of family name whose labels include want, or NaN.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return math.NaN()
	}
next:
	for _, m := range mf.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return math.NaN()
}

func TestScrapeFresh(t *testing.T) {
	mfs := scrape(t, New(Options{Version: "v1.2.3"}))
	// Every documented metric exists from the start, with zero series for every reason, so
	// rate() and absent() queries work before the first event.
	for _, name := range []string{
		"herald_connections", "herald_connections_total", "herald_disconnects_total",
		"herald_events_published_total", "herald_events_delivered_total",
		"herald_delivery_latency_seconds", "herald_history_replayed_total", "herald_resets_total",
		"herald_engine_up", "herald_topics", "herald_connection_duration_seconds", "herald_draining",
		"herald_build_info", "go_goroutines", "process_cpu_seconds_total",
	} {
		if mfs[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	for _, r := range hub.Reasons() {
		if v := value(mfs, "herald_disconnects_total", "reason", r.String()); v != 0 {
			t.Errorf("herald_disconnects_total{reason=%q} = %v, want 0", r, v)
		}
	}
	for _, r := range resetReasons {
		if v := value(mfs, "herald_resets_total", "reason", string(r)); v != 0 {
			t.Errorf("herald_resets_total{reason=%q} = %v, want 0", r, v)
		}
	}
	if v := value(mfs, "herald_build_info", "version", "v1.2.3"); v != 1 {
		t.Errorf("herald_build_info = %v, want 1", v)
	}
	if got := mfs["herald_delivery_latency_seconds"].GetType(); got != dto.MetricType_HISTOGRAM {
		t.Errorf("herald_delivery_latency_seconds is %v, want histogram", got)
	}
}

func TestScrapeAfterTraffic(t *testing.T) {
	m := New(Options{})
	var obs hub.Observer = m

	for range 5 {
		obs.ConnOpened()
	}
	obs.ConnClosed(hub.ConnInfo{Reason: hub.ReasonSlowConsumer, Duration: 2 * time.Second})
	obs.ConnClosed(hub.ConnInfo{Reason: hub.ReasonClientClosed, Duration: 40 * time.Second})
	obs.ConnClosed(hub.ConnInfo{Reason: hub.ReasonClientClosed, Duration: time.Minute})
	obs.Delivered(2, []int64{int64(300 * time.Microsecond), int64(3 * time.Millisecond)})
	obs.Delivered(1, []int64{int64(20 * time.Second)})
	obs.Replayed(7)
	obs.Reset("expired")
	obs.Reset("future_reason")
	m.Published(4)
	m.PublishFailed("invalid_event")
	m.SetEngineUp(true)
	m.SetTopics(3)
	m.SetDraining(true)

	mfs := scrape(t, m)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"herald_connections", nil, 2},
		{"herald_connections_total", nil, 5},
		{"herald_disconnects_total", []string{"reason", "slow_consumer"}, 1},
		{"herald_disconnects_total", []string{"reason", "client_closed"}, 2},
		{"herald_disconnects_total", []string{"reason", "lifetime"}, 0},
		{"herald_events_published_total", nil, 4},
		{"herald_publish_errors_total", []string{"code", "invalid_event"}, 1},
		{"herald_events_delivered_total", nil, 3},
		{"herald_history_replayed_total", nil, 7},
		{"herald_resets_total", []string{"reason", "expired"}, 1},
		{"herald_resets_total", []string{"reason", "epoch"}, 0},
		{"herald_resets_total", []string{"reason", "future_reason"}, 1},
		{"herald_engine_up", nil, 1},
		{"herald_topics", nil, 3},
		{"herald_draining", nil, 1},
	}
	for _, tt := range tests {
		if got := value(mfs, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	h := mfs["herald_delivery_latency_seconds"].Metric[0].Histogram
	if h.GetSampleCount() != 3 {
		t.Errorf("latency count = %d, want 3", h.GetSampleCount())
	}
	if want := 20.0033; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("latency sum = %v, want %v", h.GetSampleSum(), want)
	}
	cum := map[float64]uint64{}
	for _, b := range h.Bucket {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for le, want := range map[float64]uint64{0.0001: 0, 0.0005: 1, 0.005: 2, 10: 2} {
		if cum[le] != want {
			t.Errorf("latency bucket le=%v = %d, want %d", le, cum[le], want)
		}
	}
	d := mfs["herald_connection_duration_seconds"].Metric[0].Histogram
	if d.GetSampleCount() != 3 || d.GetSampleSum() != 102 {
		t.Errorf("connection duration count, sum = %d, %v; want 3, 102", d.GetSampleCount(), d.GetSampleSum())
	}
}

func TestIndependentRegistries(t *testing.T) {
	// No global state: two Metrics in one process neither collide nor share counts.
	a, b := New(Options{}), New(Options{})
	a.ConnOpened()
	if v := value(scrape(t, b), "herald_connections_total"); v != 0 {
		t.Errorf("b saw a's connection: %v", v)
	}
}

func TestConcurrentUse(t *testing.T) {
	// Writers, a scraper and the sampler at once; run with -race. Nothing is lost.
	m := New(Options{})
	const writers, writes = 4, 500
	done := make(chan struct{})
	for range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			lat := []int64{1e6, 2e6}
			for range writes {
				m.ConnOpened()
				m.Delivered(2, lat)
				m.Reset("other")
				m.ConnClosed(hub.ConnInfo{Reason: hub.ReasonFinal})
			}
		}()
	}
	for range 3 {
		m.Sample()
		_ = m.Snapshot()
		scrape(t, m)
	}
	for range writers {
		<-done
	}
	mfs := scrape(t, m)
	if v := value(mfs, "herald_events_delivered_total"); v != 2*writers*writes {
		t.Errorf("delivered = %v, want %d", v, 2*writers*writes)
	}
	if v := value(mfs, "herald_disconnects_total", "reason", "final"); v != writers*writes {
		t.Errorf("final disconnects = %v, want %d", v, writers*writes)
	}
	if v := value(mfs, "herald_connections"); v != 0 {
		t.Errorf("connections = %v, want 0", v)
	}
}
