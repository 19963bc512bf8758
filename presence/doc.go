// Package presence tracks which users hold which topics across a Herald cluster.
//
// A Tracker is one node's half: the hub tells it (hub.PresenceTracker) when a stream goes
// live and when it ends, and it keeps the node's local counts, topic → user → connections
// and user → connections, with anonymous streams counted under the user "". It publishes
// the node's share of those counts to the engine's herald.PresenceStore:
//
//   - promptly on every change: Join and Leave only mark the touched topic and user dirty
//     and wake the writer goroutine, which coalesces everything changed meanwhile into one
//     UpdatePresence (so a join is visible cluster-wide a round trip after the stream went
//     live, and Join/Leave never block the hub);
//   - every Heartbeat (DefaultHeartbeat), rewriting each of the node's shares with a TTL
//     (DefaultTTL), spread over the heartbeat in ten slots by hash so that 10,000 topics
//     are not sent to the store in one burst; so a node that dies without saying goodbye
//     drops out of presence at most TTL after its last successful write, i.e. within TTL
//     of its death;
//   - on Close, removing all of its shares at once (goodbye).
//
// Reads (Topic, User, Online) go to the store, so they see every node; Online answers from
// local counts first and asks the store only when this node has no subscriber.
//
// # Join and leave events
//
// When Options.Events says a topic wants them, the tracker publishes "join" and "leave"
// events with data {"user": "<sub>"} on the topic itself through Options.Publish, so
// subscribers receive them as ordinary events with ids. A join is sent when a named user's
// first connection to the topic in the whole cluster goes live: the writer reads the
// cluster's presence before writing its own share and sends "join" only if the user was on
// no node. A leave is sent when the user's last connection ends: after the writer removed
// its share, it reads the cluster's presence and sends "leave" if the user is on no node.
// Two nodes joining the same user at the same instant may both send "join" (never neither);
// a node that dies sends no "leave" for its users. Anonymous streams send no events.
package presence
