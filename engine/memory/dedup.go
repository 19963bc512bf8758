package memory

import "github.com/heraldpush/herald"

// DefaultDedupWindow is how many recent dedup keys a topic remembers when
// Options.DedupWindow is 0.
const DefaultDedupWindow = 1000

// dedup remembers the events of a topic's most recent DedupKeys, at most window of them,
// so a repeated publish returns the first event instead of appending again. It is allocated
// only for topics that use dedup keys. The shard lock guards it.
type dedup struct {
	events map[string]herald.Event
	keys   []dedupKey // FIFO of inserted keys, circular
	head   int
}

type dedupKey struct {
	key string
	seq uint64
}

// lookup returns the event stored for key if it was published at or after notBefore
// (Unix nanoseconds).
func (d *dedup) lookup(key string, notBefore int64) (herald.Event, bool) {
	if d == nil {
		return herald.Event{}, false
	}
	ev, ok := d.events[key]
	if !ok || ev.Time < notBefore {
		return herald.Event{}, false
	}
	return ev, true
}

// add remembers ev under key, forgetting the oldest key once window keys are held.
func (d *dedup) add(key string, ev herald.Event, window int) {
	if d.events == nil {
		d.events = make(map[string]herald.Event)
	}
	k := dedupKey{key: key, seq: ev.Seq}
	if len(d.keys) < window {
		d.keys = append(d.keys, k)
	} else {
		old := d.keys[d.head]
		// A key re-added after expiry appears twice in the FIFO; only its newest entry
		// may delete it from the map.
		if e, ok := d.events[old.key]; ok && e.Seq == old.seq {
			delete(d.events, old.key)
		}
		d.keys[d.head] = k
		d.head = (d.head + 1) % window
	}
	d.events[key] = ev
}
