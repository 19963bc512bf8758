// Package mercure serves the Mercure protocol (as the reference hub dunglas/mercure v0.24.2
// speaks it, draft-dunglas-mercure-07) at /.well-known/mercure on every Herald engine.
//
// # Storage and order
//
// Every update is one event of a single ordered Herald topic, LogTopic ("herald:mercure"),
// published through Engine.Publish: Redis and NATS carry it to every node and keep its
// history, exactly as for Herald's own topics. The event's data is the update (topics,
// private flag, id, type, retry, data) as compact JSON.
//
// Each node follows LogTopic in-process through hub.Hub.Follow, which hands it the node's
// gap-free, duplicate-free chain of events. The follower (log.go) decodes each update once,
// records its Mercure id → log position in a bounded map (as many entries as the log retains
// events), and dispatches it.
//
// # Fan-out
//
// Subscribers are indexed (index.go) so that one publish does not cost one selector match
// per subscriber: exact selectors by topic in a map, "*" in a set, and URI templates grouped
// by their literal prefix and then by template, so each distinct template whose prefix fits
// the topic is matched once. The SSE frame is encoded once per update and shared. Each
// subscriber has a queue bounded in bytes, written by its own handler goroutine
// (subscriber.go); one over its bound is cut off and resumes with Last-Event-ID.
//
// # Resume
//
// A Last-Event-ID (header, then lastEventID, then the legacy Last-Event-ID query parameter)
// is looked up in the id map, else among the log events after the node's position (a client
// coming from a node that is ahead). The subscriber registers at the node's position H under
// the hub's lock, replays the matching history after its id up to H, then writes the live
// updates that queued meanwhile: history and live never overlap. An id no longer known
// resumes from now, as the reference hub does; Config.Reset adds Herald's "event: reset".
//
// # Authorization
//
// JWTs from the Authorization header, the "authorization" query parameter, or the cookie
// (Config.Cookie), verified with package auth (HS*, RS*/PS*, ES*, EdDSA, JWKS) with
// separate publisher and subscriber keys. The "mercure" claim (or "https://mercure.rocks/")
// holds "publish" and "subscribe" selectors and a "payload". A publish authorised by the
// cookie needs an Origin (or Referer) in Config.PublishOrigins.
//
// # Subscriptions API
//
// With Config.Subscriptions, each subscriber's arrival and departure is a private system
// update in the log (subscriptions.go), so every node keeps the cluster's active
// subscriptions; each node also keeps its liveness in the engine's presence store, and the
// API lists only the subscriptions of live nodes.
package mercure
