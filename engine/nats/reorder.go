package natsengine

import (
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// reorderWait is how long a live event that arrived before its predecessor waits for it.
// nats-server 2.9 republishes messages stored concurrently from several connections in a
// slightly different order than it stored them (seen in the conformance suite's concurrency
// check: sequence 886 republished before 882), so a node may receive a topic's events out of
// order; the Prev chain puts them back in order. An event whose predecessor never comes (it
// was published while this node's interest was still on its way through a cluster) is
// delivered after reorderWait, and the sink sees the gap in the chain.
const reorderWait = 200 * time.Millisecond

// liveTopic is the delivery state of one subscribed topic: the last event handed to the
// sink and the events that arrived ahead of their predecessor. Its mutex serializes every
// Deliver call of the topic (its feed dispatcher and the reorder timer).
type liveTopic struct {
	topic herald.Topic
	sink  herald.Sink

	mu      sync.Mutex
	last    uint64                   // Seq of the last delivered event; 0 before the first
	epoch   string                   // its epoch
	pending map[uint64]*herald.Event // early events by their Prev
	timer   *time.Timer
	stopped bool
}

func newLiveTopic(topic herald.Topic, sink herald.Sink) *liveTopic {
	return &liveTopic{topic: topic, sink: sink}
}

// receive delivers ev, or holds it until its predecessor arrived.
func (l *liveTopic) receive(ev *herald.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	switch {
	case l.last == 0 || ev.Epoch != l.epoch || ev.Prev < l.last && ev.Seq > l.last:
		// First event, or a new epoch, or a chain the reorder cannot mend (the topic
		// expired and restarted): deliver what waits, then ev.
		l.flushLocked()
		l.deliverLocked(ev)
	case ev.Seq <= l.last:
		// Already delivered, or given up on (the sink saw the gap and reads history).
	case ev.Prev == l.last:
		l.deliverLocked(ev)
		for p, ok := l.pending[l.last]; ok; p, ok = l.pending[l.last] {
			delete(l.pending, p.Prev)
			l.deliverLocked(p)
		}
		if len(l.pending) == 0 && l.timer != nil {
			l.timer.Stop()
		}
	default:
		// ev.Prev > l.last: an event in between is still on its way.
		if l.pending == nil {
			l.pending = make(map[uint64]*herald.Event)
		}
		cp := *ev
		l.pending[ev.Prev] = &cp
		if l.timer == nil {
			l.timer = time.AfterFunc(reorderWait, l.expire)
		} else if len(l.pending) == 1 {
			l.timer.Reset(reorderWait)
		}
	}
}

// expire gives up waiting: the held events are delivered in order.
func (l *liveTopic) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.flushLocked()
	}
}

// flushLocked delivers every held event in sequence order.
func (l *liveTopic) flushLocked() {
	if len(l.pending) == 0 {
		return
	}
	evs := make([]*herald.Event, 0, len(l.pending))
	for _, p := range l.pending {
		evs = append(evs, p)
	}
	clear(l.pending)
	slices.SortFunc(evs, func(a, b *herald.Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	for _, p := range evs {
		if p.Seq > l.last || p.Epoch != l.epoch {
			l.deliverLocked(p)
		}
	}
}

func (l *liveTopic) deliverLocked(ev *herald.Event) {
	l.last, l.epoch = ev.Seq, ev.Epoch
	l.sink.Deliver(ev)
}

// reset forgets the last delivered event (after a reconnect the sink rereads history, and
// the first live event is delivered at once whatever its Prev).
func (l *liveTopic) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	l.last, l.epoch = 0, ""
}

// stop ends delivery (Unsubscribe).
func (l *liveTopic) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	clear(l.pending)
	if l.timer != nil {
		l.timer.Stop()
	}
}
