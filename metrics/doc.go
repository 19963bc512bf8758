// Package metrics exposes a Herald node's Prometheus metrics and the dashboard's snapshot.
//
// New builds a Metrics with its own registry (no global state): Herald's herald_* metrics,
// the Go runtime collector and the process collector. Handler serves them for GET /metrics.
// docs/metrics.md lists every metric with example queries.
//
// Who calls what:
//   - the hub: the hub.Observer methods (ConnOpened, ConnClosed, Delivered, Replayed, Reset);
//     Metrics implements hub.Observer.
//   - the server: Published after an accepted publish, PublishFailed with the error code of a
//     rejected one, SetTopics and SetEngineUp as they change (or from the once-per-second
//     ticker), and every second Sample then Snapshot, publishing the snapshot as a "stats"
//     event on the herald:stats topic for the dashboard.
//
// Delivered runs once per socket write on the fan-out path, so it takes no lock and does not
// allocate: latencies go into cache-line-padded stripes of atomic counters that a custom
// collector sums on scrape. The dashboard's rates and percentiles come from differences
// between the samples Sample keeps for the last few seconds.
package metrics
