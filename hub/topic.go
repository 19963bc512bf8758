package hub

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// topic is the node's state of one topic that has (or just had) local subscribers.
type topic struct {
	name herald.Topic

	// refs counts connections holding the topic; guarded by the shard's mutex.
	refs int

	// opMu serialises engine Subscribe/Unsubscribe calls for the topic.
	opMu       sync.Mutex
	subscribed bool // engine subscription active; guarded by opMu

	mu      sync.Mutex    // guards the rest; held while fanning out, so per-topic order holds
	ready   bool          // the node's position is known
	readyCh chan struct{} // closed when ready turns true
	epoch   string
	last    uint64 // sequence of the last event fanned out (or the head when subscribed)
	closed  bool   // the event at last was final
	filling bool   // a fill goroutine is reading history
	dirty   bool   // a live event arrived that was not fanned out; history must be read
	subs    []*sub

	followers []Follower // in-process followers (follow.go); guarded by mu
}

// sub is one connection's membership in one topic.
type sub struct {
	conn *Conn
	idx  int32 // the topic's index in the connection's topics
	pos  int   // index in topic.subs
}

func newTopic(name herald.Topic) *topic {
	return &topic{name: name, readyCh: make(chan struct{})}
}

func (t *topic) lock()   { t.mu.Lock() }
func (t *topic) unlock() { t.mu.Unlock() }

func (t *topic) addSubLocked(s *sub) {
	s.pos = len(t.subs)
	t.subs = append(t.subs, s)
}

func (t *topic) removeSubLocked(s *sub) {
	last := len(t.subs) - 1
	if s.pos < 0 || s.pos > last || t.subs[s.pos] != s {
		return
	}
	t.subs[s.pos] = t.subs[last]
	t.subs[s.pos].pos = s.pos
	t.subs[last] = nil
	t.subs = t.subs[:last]
	s.pos = -1
	if cap(t.subs) > 64 && len(t.subs) < cap(t.subs)/4 {
		t.subs = append([]*sub(nil), t.subs...)
	}
}

// acquire returns the topic entry for name with one more reference, starting the engine
// subscription when it is the first.
func (h *Hub) acquire(name herald.Topic) *topic {
	s := h.shard(name)
	s.mu.Lock()
	t := s.topics[name]
	if t == nil {
		t = newTopic(name)
		s.topics[name] = t
	}
	t.refs++
	first := t.refs == 1
	s.mu.Unlock()
	if first {
		go h.syncSubscription(t)
	}
	return t
}

// release drops a reference; the last one ends the engine subscription.
func (h *Hub) release(t *topic) {
	s := h.shard(t.name)
	s.mu.Lock()
	t.refs--
	last := t.refs == 0
	s.mu.Unlock()
	if last {
		go h.syncSubscription(t)
	}
}

func (h *Hub) wanted(t *topic) bool {
	s := h.shard(t.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.refs > 0
}

// syncSubscription brings the engine subscription in line with the reference count, and
// forgets the topic when nobody holds it.
func (h *Hub) syncSubscription(t *topic) {
	t.opMu.Lock()
	defer t.opMu.Unlock()
	backoff := 50 * time.Millisecond
	for {
		want := h.wanted(t)
		switch {
		case want && !t.subscribed:
			if err := h.engine.Subscribe(h.ctx, t.name); err != nil {
				if h.ctx.Err() != nil {
					return
				}
				if !h.wanted(t) {
					// Abandoned while failing: an engine may remember a failed Subscribe to
					// redo it on reconnect, so take it back.
					_ = h.engine.Unsubscribe(h.ctx, t.name)
					continue
				}
				h.log.Warn("engine subscribe failed; retrying", "topic", t.name, "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			t.subscribed = true
			// Read the head after the subscription is active: every later event arrives
			// live, every earlier one is in history. Fill then catches any event that
			// arrived live while the head was read.
			t.lock()
			t.dirty = true
			if !t.filling {
				t.filling = true
				go h.fill(t, true)
			}
			t.unlock()
			time.AfterFunc(h.opts.Settle, func() { h.recheck(t) })
		case !want && t.subscribed:
			if err := h.engine.Unsubscribe(h.ctx, t.name); err != nil && h.ctx.Err() == nil {
				h.log.Warn("engine unsubscribe failed", "topic", t.name, "err", err)
			}
			t.subscribed = false
			t.lock()
			if t.ready {
				t.ready = false
				t.readyCh = make(chan struct{})
			}
			t.unlock()
		case !want && !t.subscribed:
			s := h.shard(t.name)
			s.mu.Lock()
			if t.refs == 0 && s.topics[t.name] == t {
				delete(s.topics, t.name)
			}
			s.mu.Unlock()
			return
		default:
			return
		}
	}
}

// Deliver implements herald.Sink: it fans a live event out to the topic's subscribers if it
// continues the node's chain, drops it if already seen, and starts a history fill on a gap.
func (h *Hub) Deliver(ev *herald.Event) {
	s := h.shard(ev.Topic)
	s.mu.Lock()
	t := s.topics[ev.Topic]
	s.mu.Unlock()
	if t == nil {
		return
	}
	var own inlineConns
	t.lock()
	if !t.ready || t.filling {
		t.dirty = true
		t.unlock()
		return
	}
	switch {
	case ev.Epoch == t.epoch && ev.Seq <= t.last:
		// Already fanned out (a fill read it from history first).
	case (ev.Epoch == t.epoch || t.epoch == "") && ev.Prev == t.last:
		h.fanoutLocked(t, ev, &own)
	default:
		t.dirty = true
		t.filling = true
		go h.fill(t, false)
	}
	t.unlock()
	for _, c := range own.c[:own.n] {
		h.pool.serveInline(c)
	}
}

// inlineMax is the largest fan-out that Deliver writes itself (pool.serveInline) rather than
// through the writer pool: unicast and small groups. A broadcast goes to the pool, whose
// workers write on every core.
const inlineMax = 4

// inlineConns are the connections a fan-out claimed for the delivering goroutine to write.
type inlineConns struct {
	n int
	c [inlineMax]*Conn
}

// recheck rereads a topic's history after its position, if it is still followed.
func (h *Hub) recheck(t *topic) {
	if h.ctx.Err() != nil || !h.wanted(t) {
		return
	}
	t.lock()
	h.refillLocked(t)
	t.unlock()
}

// refillLocked marks the topic as possibly behind and starts a history fill unless one runs
// (which then reads once more). Before the topic is ready the initial fill covers it.
func (h *Hub) refillLocked(t *topic) {
	t.dirty = true
	if t.ready && !t.filling {
		t.filling = true
		go h.fill(t, false)
	}
}

// Resync implements herald.Sink: every topic rereads history after its position.
func (h *Hub) Resync() {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		ts := make([]*topic, 0, len(s.topics))
		for _, t := range s.topics {
			ts = append(ts, t)
		}
		s.mu.Unlock()
		for _, t := range ts {
			t.lock()
			h.refillLocked(t)
			t.unlock()
		}
	}
}

// fanoutLocked encodes ev once and queues it on every subscriber.
// With own (nil: none), a fan-out of at most inlineMax connections claims the pooled ones
// nobody is writing into own, for the caller to serve once it has released t's lock.
func (h *Hub) fanoutLocked(t *topic, ev *herald.Event, own *inlineConns) {
	t.epoch, t.last, t.closed = ev.Epoch, ev.Seq, ev.Final
	followEventLocked(t, ev) // follow.go hook
	if len(t.subs) == 0 {
		return
	}
	f := newEventFrame(ev)
	if own != nil && len(t.subs) <= inlineMax {
		for _, s := range t.subs {
			if s.conn.push(f, s.idx, true) {
				own.c[own.n] = s.conn
				own.n++
			}
		}
		return
	}
	for _, s := range t.subs {
		s.conn.enqueue(f, s.idx)
	}
}

// resetLocked moves the node's position to pos and tells every subscriber.
func (h *Hub) resetLocked(t *topic, reason string, pos herald.Position, closed bool) {
	t.epoch, t.last, t.closed = pos.Epoch, pos.Seq, closed
	followResetLocked(t, reason, pos) // follow.go hook
	if len(t.subs) == 0 {
		return
	}
	f := newResetFrame(t.name, reason, pos)
	for _, s := range t.subs {
		s.conn.enqueue(f, s.idx)
	}
	h.obs.Reset(reason)
}

// fill reads history after the node's position until it has caught up, fanning the events
// out. With initial set it first takes the head as the node's position (a new subscription).
func (h *Hub) fill(t *topic, initial bool) {
	backoff := 50 * time.Millisecond
	for {
		t.lock()
		epoch, last := t.epoch, t.last
		t.dirty = false
		t.unlock()
		limit := h.opts.HistoryPage
		if initial {
			limit = 0
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, t.name, last, limit)
		cancel()
		if err != nil {
			if h.ctx.Err() != nil || !h.wanted(t) {
				t.lock()
				t.filling = false
				t.unlock()
				return
			}
			h.log.Warn("history read failed; retrying", "topic", t.name, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		t.lock()
		st := hist.State
		switch {
		case initial:
			t.epoch, t.last, t.closed = st.Epoch, st.Last, st.Closed
			initial = false
			t.ready = true
			close(t.readyCh)
			t.dirty = true // read once more for anything that arrived meanwhile
		case st.Epoch == "":
			// The topic has no history now (expired, or the broker was flushed). Nothing to
			// deliver; keep the position. If a new epoch starts, its first event breaks the
			// chain and the fill after it resets the subscribers: the node cannot know
			// whether it missed events of the lost epoch, so it must not follow silently.
		case st.Epoch != epoch && epoch != "":
			// The history we were following is gone (broker flushed, topic expired and
			// recreated): tell subscribers and go on from the new head.
			h.resetLocked(t, ResetEpoch, st.Head(), st.Closed)
		default:
			for i := range hist.Events {
				ev := &hist.Events[i]
				if ev.Seq <= t.last && ev.Epoch == t.epoch {
					continue
				}
				if ev.Prev != t.last {
					// History lost events we never delivered (trimmed while we were cut off).
					h.resetLocked(t, ResetExpired, herald.Position{Epoch: ev.Epoch, Seq: ev.Prev}, false)
				}
				h.fanoutLocked(t, ev, nil)
			}
			if len(hist.Events) >= limit {
				t.dirty = true
			}
		}
		if !t.dirty {
			t.filling = false
			t.unlock()
			return
		}
		t.unlock()
	}
}
