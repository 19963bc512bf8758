package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldpush/herald/hub"
)

// Defaults for Options.
const (
	// DefaultRateWindow is how far back Snapshot's publish and delivery rates look.
	DefaultRateWindow = 5 * time.Second
	// DefaultLatencyWindow is how far back Snapshot's latency percentiles look.
	DefaultLatencyWindow = 10 * time.Second
)

// Reset reasons the hub reports (see hub.Observer.Reset). Their series exist from the start.
var resetReasons = hub.ResetReasons()

// Options configures New. The zero value is ready to use.
type Options struct {
	// Version, when set, is exported as herald_build_info{version="…"} 1.
	Version string
	// RateWindow is the window of Snapshot's rates; DefaultRateWindow when zero.
	RateWindow time.Duration
	// LatencyWindow is the window of Snapshot's percentiles; DefaultLatencyWindow when zero.
	LatencyWindow time.Duration
	// Now is the clock; time.Now when nil. Tests pass a fake one.
	Now func() time.Time
}

// Metrics holds a node's counters and gauges, exports them on its own Prometheus registry,
// and keeps the short history behind the dashboard's Snapshot. It implements hub.Observer;
// all of its methods are safe for concurrent use.
type Metrics struct {
	opts    Options
	reg     *prometheus.Registry
	started time.Time

	// Hot or frequently touched state: plain atomics, exported by collector.
	latency          *latencyHist
	connections      atomic.Int64
	connectionsTotal atomic.Uint64
	published        atomic.Uint64
	replayed         atomic.Uint64
	topics           atomic.Int64
	engineUp         atomic.Bool
	draining         atomic.Bool
	disconnects      []atomic.Uint64 // indexed by hub.Reason
	resets           []atomic.Uint64 // indexed like resetReasons

	connDuration prometheus.Histogram

	// Rare paths: label values not known in advance.
	mu            sync.Mutex
	otherResets   map[string]uint64
	otherDisconn  map[string]uint64
	publishErrors map[string]uint64

	sampler sampler
}

var _ hub.Observer = (*Metrics)(nil)

// New returns Metrics with a fresh registry holding Herald's metrics and the Go runtime and
// process collectors.
func New(opts Options) *Metrics {
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.LatencyWindow <= 0 {
		opts.LatencyWindow = DefaultLatencyWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Metrics{
		opts:          opts,
		reg:           prometheus.NewRegistry(),
		started:       opts.Now(),
		latency:       newLatencyHist(),
		disconnects:   make([]atomic.Uint64, len(hub.Reasons())),
		resets:        make([]atomic.Uint64, len(resetReasons)),
		otherResets:   map[string]uint64{},
		otherDisconn:  map[string]uint64{},
		publishErrors: map[string]uint64{},
		connDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_connection_duration_seconds",
			Help:    "How long SSE streams lasted, observed when they end.",
			Buckets: []float64{0.1, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400},
		}),
	}
	m.sampler.init(m)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.connDuration,
		(*collector)(m),
	)
	if opts.Version != "" {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "herald_build_info",
			Help:        "Always 1; the version label says which Herald build runs.",
			ConstLabels: prometheus.Labels{"version": opts.Version},
		}, func() float64 { return 1 }))
	}
	return m
}

// Handler serves the registry in the Prometheus exposition format, for GET /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registerer lets other packages (an engine, the server) add their own collectors to the
// same registry.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Published counts n events accepted by the engine. The server calls it after a successful
// publish (n is the batch size).
func (m *Metrics) Published(n int) {
	if n > 0 {
		m.published.Add(uint64(n))
	}
}

// SetDraining sets herald_draining: the server calls it with true when the node starts
// draining.
func (m *Metrics) SetDraining(on bool) { m.draining.Store(on) }

// PublishFailed counts a rejected or failed publish by its JSON error code, e.g.
// "invalid_event" or "engine_unavailable". Codes come from code, not from users, so their
// number stays small.
func (m *Metrics) PublishFailed(code string) {
	m.mu.Lock()
	m.publishErrors[code]++
	m.mu.Unlock()
}

// SetEngineUp records whether the engine is reachable (herald_engine_up 1 or 0). The server
// sets it from its readiness checks or the engine's health reports.
func (m *Metrics) SetEngineUp(up bool) { m.engineUp.Store(up) }

// SetTopics records the number of topics with at least one local subscriber (herald_topics).
func (m *Metrics) SetTopics(n int) { m.topics.Store(int64(n)) }
