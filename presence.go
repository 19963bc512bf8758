package herald

import (
	"context"
	"time"
)

// Presence: optional engine abilities behind cluster-wide presence (package presence) and
// the publish answer's "online" flag. Engines offer them by implementing PresenceEngine and
// OnlinePublisher; the server finds them by type assertion, so herald.Engine stays as is.

// PresenceEngine is implemented by engines that keep a cluster-wide presence store.
type PresenceEngine interface {
	// Presence returns the engine's presence store; every call returns the same store.
	Presence() PresenceStore
}

// PresenceStore holds each node's share of presence: per topic, the node's connections by
// user; per user, the node's connections. A share lives until it is rewritten or removed,
// or until its TTL passes without a rewrite, so a node that dies without saying goodbye
// drops out within one TTL of its last write. Stores measure the TTL on one clock (the
// broker's where there is one), so node clocks need not agree.
type PresenceStore interface {
	// UpdatePresence writes node's shares in u, each expiring after ttl unless written again.
	// u's maps remain the caller's: a store copies or encodes what it keeps and holds none
	// of them after it returns (the presence tracker reuses them for its next write).
	UpdatePresence(ctx context.Context, node string, u PresenceUpdate, ttl time.Duration) error
	// TopicPresence sums every live node's share of topic.
	TopicPresence(ctx context.Context, topic Topic) (TopicPresence, error)
	// UserPresence returns the connections of user over every live node.
	UserPresence(ctx context.Context, user string) (int, error)
}

// PresenceUpdate is a set of one node's shares to write.
type PresenceUpdate struct {
	// Topics maps a topic to the node's connections on it by user ("" counts anonymous
	// connections). An empty or nil map removes the node's share of the topic.
	Topics map[Topic]map[string]int
	// Users maps a named user to the node's connections; 0 removes the node's share.
	Users map[string]int
}

// TopicPresence is the cluster-wide presence of one topic.
type TopicPresence struct {
	// Connections counts every stream holding the topic, anonymous ones included.
	Connections int
	// Users maps each named user holding the topic to their connections on it.
	Users map[string]int
}

// OnlinePublisher is implemented by engines that can tell, as they publish, whether each
// event reached a subscriber anywhere in the cluster (the Redis engine reads it from the
// PUBLISH reply). online[i] belongs to the i-th returned event.
type OnlinePublisher interface {
	PublishOnline(ctx context.Context, msgs []Message) (events []Event, online []bool, err error)
}
