package herald

import (
	"context"
	"time"
)

// Engine stores events in per-topic history and carries live events to every node that holds
// subscribers for their topic. One Engine value serves one node; several nodes sharing a
// broker (Redis, NATS) form a cluster.
//
// The contract every engine meets (engine/enginetest checks it):
//   - Publish assigns each message of a topic a sequence number greater than the topic's
//     previous one (1, 2, 3, … for dense engines), records the previous one in Event.Prev,
//     appends the event to history and hands it to the live feed atomically: an event is
//     either in history and on its way to every subscribed node, or Publish fails and neither
//     happened. Per-topic order is the same everywhere. Sequence numbers are never reused
//     within an epoch.
//   - A topic's final event closes it: later publishes fail with ErrTopicClosed.
//   - History reads what is retained after a sequence number, with the topic's state.
//   - Every event published after Subscribe returns reaches the Sink given to Start, at least
//     once, unless the engine loses its live feed (broker reconnect); then it calls
//     Sink.Resync once the feed is back, so the hub can fill the gap from history.
//
// The gap-free, duplicate-free stitch of history and live events is not the engine's job: the
// hub does it once for every engine (hub/stitch.go). So an engine need not filter its live
// feed: it may deliver an event twice, out of order, or one published just before Subscribe
// returned, and it should not read history or hold events to avoid that.
type Engine interface {
	// Start begins delivering live events to sink. It is called once, before Subscribe.
	Start(ctx context.Context, sink Sink) error
	// Publish appends msgs, in order, and returns their events. On error, a prefix of msgs
	// may have been published; the error says which (see PublishError).
	Publish(ctx context.Context, msgs []Message) ([]Event, error)
	// History returns up to limit retained events of topic with Seq > after, oldest first,
	// and the topic's state at the time of the read.
	History(ctx context.Context, topic Topic, after uint64, limit int) (History, error)
	// Subscribe makes this node receive topic's live events. It returns once every event
	// published after it returns will reach the sink. The hub calls it once per topic while
	// the node has subscribers, and Unsubscribe when the last one leaves.
	Subscribe(ctx context.Context, topic Topic) error
	// Unsubscribe stops live delivery of topic to this node.
	Unsubscribe(ctx context.Context, topic Topic) error
	// Close releases the engine's resources.
	Close() error
}

// Sink receives an engine's live events; the hub implements it.
type Sink interface {
	// Deliver hands over a live event of a subscribed topic. Calls for one topic never run
	// concurrently, and usually come in sequence order (see Engine for what may differ);
	// Deliver never blocks on subscribers (the hub may write a small fan-out to its sockets
	// in the calling goroutine, but never waits for a socket). The event is not retained
	// after the call returns: the sink copies what it keeps.
	Deliver(ev *Event)
	// Resync reports that live delivery was interrupted and events may have been missed;
	// the sink rereads history for its topics.
	Resync()
}

// TopicState describes a topic's history at the time of a read.
type TopicState struct {
	// Epoch identifies this incarnation of the topic's history; "" when the topic has none
	// (never published, or expired).
	Epoch string
	// First is the sequence number of the oldest retained event, or 0 when none is retained.
	First uint64
	// Last is the sequence number of the newest event ever published in this epoch, or 0.
	// (History returns events with their Prev, so a reader tells a trimmed gap from a
	// contiguous read: the first event after cursor c is contiguous iff its Prev == c.)
	Last uint64
	// Closed reports that the event at Last was final.
	Closed bool
}

// Head returns the position of the topic's newest event.
func (s TopicState) Head() Position { return Position{Epoch: s.Epoch, Seq: s.Last} }

// History is the answer of Engine.History.
type History struct {
	Events []Event
	State  TopicState
}

// Retention is how much history a topic keeps: at most Size events, none older than TTL.
// A topic whose events have all expired, and that has no subscribers, is forgotten, epoch
// included.
type Retention struct {
	Size int
	TTL  time.Duration
}

// Default history retention: what a zero Retention.Size or TTL means to every engine and to
// the server's configuration. The one definition; engines and server re-export it.
const (
	DefaultHistorySize = 1000
	DefaultHistoryTTL  = time.Hour
)

// WithDefaults returns r with a zero or negative Size as DefaultHistorySize and a zero TTL as
// DefaultHistoryTTL. A negative TTL (no age limit) is kept.
func (r Retention) WithDefaults() Retention {
	if r.Size <= 0 {
		r.Size = DefaultHistorySize
	}
	if r.TTL == 0 {
		r.TTL = DefaultHistoryTTL
	}
	return r
}

// RetentionFunc returns the retention of a topic (per namespace, from configuration).
type RetentionFunc func(Topic) Retention

// Pinger is implemented by engines that can report their backing store's health; /readyz
// uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PublishError reports a batch publish that failed after Published messages succeeded.
type PublishError struct {
	// Published is the number of leading messages that were published.
	Published int
	Err       error
}

func (e *PublishError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PublishError) Unwrap() error { return e.Err }
