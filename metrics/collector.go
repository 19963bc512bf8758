package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/hub"
)

// Descriptions of the metrics exported from Metrics' atomics. docs/metrics.md lists them.
var (
	descConnections = prometheus.NewDesc("herald_connections",
		"SSE streams open now.", nil, nil)
	descConnectionsTotal = prometheus.NewDesc("herald_connections_total",
		"SSE streams opened since start.", nil, nil)
	descDisconnects = prometheus.NewDesc("herald_disconnects_total",
		"SSE streams ended, by reason.", []string{"reason"}, nil)
	descPublished = prometheus.NewDesc("herald_events_published_total",
		"Events accepted for publishing on this node.", nil, nil)
	descPublishErrors = prometheus.NewDesc("herald_publish_errors_total",
		"Publish requests rejected or failed, by error code.", []string{"code"}, nil)
	descDelivered = prometheus.NewDesc("herald_events_delivered_total",
		"Events written to subscribers' sockets (one per event per subscriber).", nil, nil)
	descLatency = prometheus.NewDesc("herald_delivery_latency_seconds",
		"Time from publish accepted (or the publisher's own send time) to the frame written to the socket.", nil, nil)
	descReplayed = prometheus.NewDesc("herald_history_replayed_total",
		"History events replayed to new or resumed streams.", nil, nil)
	descResets = prometheus.NewDesc("herald_resets_total",
		"Reset events sent to streams whose cursor could not be resumed, by reason.", []string{"reason"}, nil)
	descEngineUp = prometheus.NewDesc("herald_engine_up",
		"1 when the engine (memory, Redis, NATS) is reachable, else 0.", nil, nil)
	descTopics = prometheus.NewDesc("herald_topics",
		"Topics with at least one subscriber on this node.", nil, nil)
	descDraining = prometheus.NewDesc("herald_draining",
		"1 from the start of the node's drain (shutdown) until it exits, else 0.", nil, nil)
)

// latencyBoundsSeconds are latencyBounds as Prometheus "le" values.
var latencyBoundsSeconds = func() (s [len(latencyBounds)]float64) {
	for i, ns := range latencyBounds {
		s[i] = float64(ns) / 1e9
	}
	return s
}()

// collector exports Metrics' atomics on scrape. It is a separate type so that Describe and
// Collect do not clutter Metrics' method set.
type collector Metrics

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descConnectionsTotal, descDisconnects,
		descPublished, descPublishErrors, descDelivered, descLatency, descReplayed, descResets,
		descEngineUp, descTopics, descDraining} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descConnections, float64(m.connections.Load()))
	counter(descConnectionsTotal, m.connectionsTotal.Load())
	counter(descPublished, m.published.Load())
	counter(descReplayed, m.replayed.Load())
	gauge(descTopics, float64(m.topics.Load()))
	up := 0.0
	if m.engineUp.Load() {
		up = 1
	}
	gauge(descEngineUp, up)
	draining := 0.0
	if m.draining.Load() {
		draining = 1
	}
	gauge(descDraining, draining)
	for _, r := range hub.Reasons() {
		counter(descDisconnects, m.disconnects[r].Load(), r.String())
	}
	for i, r := range resetReasons {
		counter(descResets, m.resets[i].Load(), string(r))
	}
	m.mu.Lock()
	for r, v := range m.otherDisconn {
		counter(descDisconnects, v, r)
	}
	for r, v := range m.otherResets {
		counter(descResets, v, r)
	}
	for code, v := range m.publishErrors {
		counter(descPublishErrors, v, code)
	}
	m.mu.Unlock()

	lc := m.latency.read()
	counter(descDelivered, lc.delivered)
	cumulative := make(map[float64]uint64, len(latencyBounds))
	var n uint64
	for i, le := range latencyBoundsSeconds {
		n += lc.buckets[i]
		cumulative[le] = n
	}
	n += lc.buckets[len(latencyBounds)]
	ch <- prometheus.MustNewConstHistogram(descLatency, n, float64(lc.sumNanos)/1e9, cumulative)
}
