// Package bench is the engine of `herald bench`, a load generator for Herald clusters.
//
// A run connects Config.Conns subscribers, publishes Config.Rate events per second for
// Config.Duration (open loop: event k is due at k/rate, whatever the answers take), waits up
// to Config.Drain for outstanding deliveries, and returns a Result: deliveries per second,
// publish→delivery latency quantiles, lost and duplicated events, errors, and the CPU of the
// generator and (with Config.ServerPID) of a local server, plus its RSS per connection.
//
// Every event's data is {"t":<unix ns>,"seq":<n>}: its send time, which is also sent as
// sent_time and is the latency origin, and its sequence number within its topic, which lets
// each subscriber tell in-order, skipped (lost) and repeated (duplicated) events apart
// without keeping a set of what it saw.
//
// Both sides are written to share a small machine with the server they measure, and neither
// uses net/http. Each subscriber dials TCP (optionally from one of several source
// addresses), writes a raw HTTP/1.1 request and reads the response head through
// syscall.RawConn, taking a pooled 16 KiB buffer only once bytes are there. Once the stream
// is open, on Linux, it is handed to one of GOMAXPROCS edge-triggered epoll loops
// (epoll_linux.go) that read each ready socket once per wake-up into the loop's own buffer,
// so an open stream costs no goroutine wake-up and holds no buffer (reconnect mode keeps
// reading in the subscriber's goroutine: it drops streams with read deadlines). One read
// carries as many events as have arrived; the response head, chunked framing and SSE lines
// are parsed in place with no allocation per event (about 65 ns per event; see
// BenchmarkStreamFeed). Each publish loop keeps its own keep-alive connection per server and
// writes requests and parses answers itself (pubconn.go). Latencies go into fixed log-scale
// histograms (±3%) that merge by addition, across goroutines and processes.
//
// # Lost, duplicated, reset
//
// Every subscriber sorts each event published to its topic into exactly one class:
// received (Stats.Unique), lost, or skipped by a reset; so Result.Lost is Expected minus the
// events received minus those skipped. The events between two "event: reset" frames form a
// stretch. Within a stretch, an event whose sequence number jumps ahead loses the events
// jumped over, and an event at or below one already received in the stretch is duplicated.
// The first event after a reset starts a new stretch wherever it is: the events it jumps over
// are skipped (the reset told the client they will not come; it refetches its state), and
// if it goes back, the events received again are replayed (Result.ResetReplayed), not
// duplicated. A reset that no event follows skips the rest of the run. Resets are counted
// by the reason in their data (expired, epoch, malformed, mismatch). A false reset (one
// whose cursor the cluster could have honoured) typically shows as a reset followed by
// replayed events, nothing skipped. The rules are in sequence.go, tested case by case.
//
// # HTTP/2
//
// With Config.HTTP2 the streams go over HTTP/2 instead (h2.go): cleartext h2c with prior
// knowledge, or TLS with ALPN h2 (Config.Insecure accepts a self-signed certificate), N
// streams multiplexed over Config.H2Conns TCP connections per process, as a browser's
// streams share one connection per origin. They go through net/http's client, one transport
// per connection, and each is read by its subscriber's goroutine; the accounting (lost,
// duplicated, latency, server RSS and CPU) is the same. Reconnect mode drops a stream by
// cancelling its request (RST_STREAM), keeping the connection; tasks mode stays on
// HTTP/1.1. Publishing stays on HTTP/1.1 keep-alive connections, over TLS to https://
// servers.
//
// # Several servers
//
// Subscriber i opens its first stream on Servers[i%len]; in reconnect mode every later
// stream goes to a random server with the subscriber's cursor (Result.Hops counts those
// that changed server), so a run checks exact resume across the nodes of a real cluster.
// PublishRoundRobin spreads the publish requests over the servers too; one publish loop
// sends them in sequence order, each after the previous was answered.
//
// # Tasks
//
// Tasks mode (task.go) measures short streams: Conns slots each run tasks back to back on
// fresh topics (replayed steps, live steps, a final event, the server's end of the stream)
// and the Result reports tasks ended per second and the CPU per task.
//
// Over Config.ConnsPerProcess streams, Run starts worker processes through Config.Spawn;
// each calls ServeWorker, holds a share of the subscribers and reports JSON lines over its
// stdout, while the parent publishes and aggregates.
package bench
