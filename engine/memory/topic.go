package memory

import (
	"math"
	"time"

	"github.com/heraldpush/herald"
)

// topic is one topic's history and live state. Every field is guarded by the lock of the
// shard that holds the topic.
//
// A node with a topic per stream holds one per stream, so the struct is kept to the 96-byte
// size class (TestTopicSize): the retention is stored as its two resolved parts, the size in
// 32 bits next to the flags.
type topic struct {
	name herald.Topic
	// epoch is "" until the first publish (an entry exists only from a publish on, and a
	// topic with no entry answers the zero TopicState, Epoch "").
	epoch  string
	last   uint64        // Seq of the newest event ever published in this epoch
	ttl    time.Duration // retention TTL, resolved when the topic was created (≤ 0: no age limit)
	events ring
	dedup  *dedup // nil until the topic sees a DedupKey
	size   int32  // retention size, resolved when the topic was created (at most maxRingSize)
	closed bool   // the event at last was final
}

// newTopicState returns a topic named name with retention ret (defaults applied).
func newTopicState(name herald.Topic, ret herald.Retention) *topic {
	return &topic{name: name, ttl: ret.TTL, size: int32(min(ret.Size, maxRingSize))}
}

// expireLocked drops the events older than the topic's TTL at now (Unix nanoseconds).
func (t *topic) expireLocked(now int64) {
	cutoff := t.cutoff(now)
	dropped := false
	for ev := t.events.oldest(); ev != nil && ev.Time < cutoff; ev = t.events.oldest() {
		t.events.dropOldest()
		dropped = true
	}
	if dropped {
		t.events.compact()
	}
}

// cutoff returns the Time before which an event is expired at now.
func (t *topic) cutoff(now int64) int64 {
	if t.ttl <= 0 {
		return math.MinInt64
	}
	return now - int64(t.ttl)
}

// forgettableLocked reports whether nothing would be lost by forgetting the topic: it
// retains no event and this node does not subscribe to it (subscribed), or it was never
// published (no epoch: the zero state, which an absent topic answers too). Its epoch,
// sequence and closed flag go with it, as the herald.Retention contract says.
func (t *topic) forgettableLocked(subscribed bool) bool {
	return t.events.len() == 0 && (!subscribed || t.epoch == "")
}

// stateLocked returns the topic's TopicState.
func (t *topic) stateLocked() herald.TopicState {
	st := herald.TopicState{Epoch: t.epoch, Last: t.last, Closed: t.closed}
	if ev := t.events.oldest(); ev != nil {
		st.First = ev.Seq
	}
	return st
}

// historyLocked returns up to limit retained events with Seq > after, oldest first. The
// events share their Data with the ring; it is never modified.
func (t *topic) historyLocked(after uint64, limit int) []herald.Event {
	first := t.events.oldest()
	if limit <= 0 || first == nil || after >= t.last {
		return nil
	}
	start := 0
	if after >= first.Seq { // Seqs are dense: the event after `after` is at a fixed offset
		start = int(after - first.Seq + 1)
	}
	n := min(limit, t.events.len()-start)
	evs := make([]herald.Event, n)
	for i := range evs {
		evs[i] = *t.events.at(start + i)
	}
	return evs
}
