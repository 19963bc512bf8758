package memory

import (
	"math"

	"github.com/heraldpush/herald"
)

// topic is one topic's history and live state. Every field is guarded by the lock of the
// shard that holds the topic.
type topic struct {
	name herald.Topic
	ret  herald.Retention // resolved when the topic was created, defaults applied
	// epoch is "" until the first publish: a topic that exists only because a node
	// subscribed to it has no history yet, and TopicState.Epoch must say so.
	epoch      string
	last       uint64 // Seq of the newest event ever published in this epoch
	closed     bool   // the event at last was final
	subscribed bool
	events     ring
	dedup      *dedup // nil until the topic sees a DedupKey
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
	if t.ret.TTL <= 0 {
		return math.MinInt64
	}
	return now - int64(t.ret.TTL)
}

// forgettableLocked reports whether nothing would be lost by forgetting the topic: it
// retains no event and this node does not subscribe to it. Its epoch, sequence and closed
// flag go with it, as the herald.Retention contract says.
func (t *topic) forgettableLocked() bool {
	return t.events.len() == 0 && !t.subscribed
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
