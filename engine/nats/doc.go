// Package natsengine is Herald's NATS engine: topic history in JetStream streams, live fan-out
// over core NATS subjects with interest only on the nodes that hold subscribers, and a bridge
// that turns plain `nats pub` messages of workers into Herald events.
//
// # Server versions
//
// Herald needs nats-server 2.9.0 or later with JetStream enabled (`nats-server -js`): stream
// RePublish, Nats-Expected-Last-Subject-Sequence (including 0, "no message yet") and
// next-by-subject message get. It uses no 2.10+ feature (no multi-filter consumers, no
// stream metadata, no batched direct get), and is tested against Debian's nats-server
// 2.9.10, standalone and as a three-server cluster with routes. Newer servers work the same.
//
// # Layout
//
// Every retention class (a distinct Retention after defaults: Size events per topic, TTL)
// has one stream, "<prefix>_<size>_<ttl ms>" (ttl "inf" without age limit), e.g.
// herald_1000_3600000, with MaxMsgsPerSubject = Size, MaxAge = TTL, DiscardOld. New creates
// or updates the streams of Options.Default and Options.Namespaces at start-up; a class only
// a RetentionFunc knows is created on first use. Subjects:
//
//	<prefix>.h.<class>.<key>   stored: Publish appends here, the class's stream captures <prefix>.h.<class>.>
//	<prefix>.l.<class>.<key>   live: the stream republishes every stored message here
//
// <key> is the topic name in unpadded base64url (RFC 4648 §5), one subject token of
// [A-Za-z0-9_-] for any valid topic: one-to-one, so topics never collide, and '.', '*', '>'
// in a topic can never act as separators or wildcards ("scan:abc/1.*" → "c2NhbjphYmMvMS4q").
//
// # Publish
//
// Each message is stored with Nats-Expected-Last-Subject-Sequence set to the topic's last
// stream sequence as this node last saw it (a per-topic cache, striped locks so one node
// never races itself). JetStream appends only if no other event came in between; on a
// mismatch the engine rereads the subject's last message and retries. Because the cached
// head says whether the last event was final, the closed check is atomic with the append:
// after a final event every publish fails with herald.ErrTopicClosed. The event's Seq is
// the stream sequence (not dense per topic) and its Prev the checked expected sequence,
// stored in the message's meta header so history returns it too. A DedupKey becomes
// Nats-Msg-Id "<key>:<DedupKey>" (per topic; JetStream's window is Options.Duplicates).
//
// The meta header, "Herald: 1 <epoch> <prev> <time> <sent> <final> <name>;", packs every
// field of the event but its data into one header (see meta.go): the live feed decodes one
// message per delivered event, and each header costs the NATS client allocations there.
// A topic's epoch is chosen by the event that starts it (Prev 0: the topic's
// first event, or the first after its history expired or its stream was deleted) as base36
// time plus random digits, and copied into every later event; so a stream that was wiped,
// or a topic that expired and was published again, gets a new epoch and cursors from the
// old one are answered with a reset.
//
// # Live events
//
// Subscribe makes a core subscription on the topic's live subject; the live feed therefore
// carries only messages JetStream stored (a subscriber on the stored subject would also see
// messages JetStream rejected). Republished messages carry Nats-Sequence and
// Nats-Last-Sequence. nats-server 2.9 may republish concurrent appends slightly out of
// order; the engine passes events on as they come, one topic at a time, and the hub puts
// them back in order by their Prev chain (hub/stitch.go). The subscriptions
// share a few feed channels, each drained by one dispatcher goroutine, rather than running a
// goroutine each (see feed.go); a full channel counts as a slow consumer and resyncs the
// sink from history.
//
// # Faults
//
// The connection never buffers while disconnected, so Publish fails at once with
// herald.ErrEngineUnavailable (wrapped in a *herald.PublishError) and Ping fails. nats.go
// reconnects forever; once it is back the engine flushes its resubscriptions, rechecks (and
// if needed recreates) its streams, drops cached heads and calls Sink.Resync once, so the
// hub refills from history.
//
// A batch is pipelined: the first message of every topic goes out at once, with replies in
// one shared inbox, and each later message of a topic as soon as the previous one is
// acknowledged; see batch.go for the order of checks and what a failing batch stores.
//
// # Benchmarks
//
// The publish, batch and cross-node benchmarks (BenchmarkPublish, BenchmarkPublishBatch10,
// BenchmarkCrossNode) and their figures are in docs/performance.md (Go benchmarks).
package natsengine
