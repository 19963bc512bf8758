package hub

// Topics: the node's state per topic with local subscribers, and the engine subscription
// that follows whether the node wants the topic.

import (
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// topic is the node's state of one topic that has (or just had) local subscribers: who holds
// it, its engine subscription, and the node's place in its chain (stitch.go).
//
// A node with a topic per stream holds as many topics as streams, so the struct is kept to
// one small size class (TestTopicSize): what only a topic that is filling, holding events,
// waited for or followed in-process needs lives in a side struct (topicSide) that exists only
// while one of those does.
type topic struct {
	name herald.Topic

	// opMu serialises engine Subscribe/Unsubscribe calls for the topic.
	opMu sync.Mutex
	// mu guards the rest but refs and subscribed; it is held while fanning out, so
	// per-topic order holds.
	mu sync.Mutex

	// refs counts connections holding the topic; guarded by the shard's mutex.
	refs int32

	gen        uint32 // bumped when the engine subscription ends: a fill of an older one stops
	subscribed bool   // engine subscription active; guarded by opMu
	ready      bool   // the node's position is known
	closed     bool   // the event at last was final
	filling    bool   // a fill goroutine is reading history
	dirty      bool   // the fill must read history once more
	epoch      string
	last       uint64 // sequence of the last event fanned out (or the head when subscribed)
	subs       []*sub

	side *topicSide // nil while every field of it would be empty
}

// topicSide is the part of a topic's state that an idle topic does not need (guarded by
// topic.mu). The topic drops it (trimSideLocked) as soon as all of it is empty again.
type topicSide struct {
	readyCh   chan struct{}  // made on demand while not ready, closed and dropped when ready turns true
	fillDone  chan struct{}  // closed when the running fill ends; set while filling
	held      []herald.Event // live events that could not be fanned out yet, in arrival order
	heldSize  int            // bytes of data in held
	followers []Follower     // in-process followers (follow.go)
}

// sideLocked returns the topic's side struct, making it when there is none.
func (t *topic) sideLocked() *topicSide {
	if t.side == nil {
		t.side = &topicSide{}
	}
	return t.side
}

// trimSideLocked drops the side struct once nothing in it is in use.
func (t *topic) trimSideLocked() {
	x := t.side
	if x != nil && x.readyCh == nil && x.fillDone == nil && len(x.held) == 0 && len(x.followers) == 0 {
		t.side = nil
	}
}

// heldLocked returns the live events the topic holds.
func (t *topic) heldLocked() []herald.Event {
	if t.side == nil {
		return nil
	}
	return t.side.held
}

// sub is one connection's membership in one topic (16 bytes: a connection holds one per
// topic).
type sub struct {
	conn *Conn
	idx  int32 // the topic's index in the connection's topics
	pos  int32 // index in topic.subs, -1 when not in it
}

func newTopic(name herald.Topic) *topic {
	return &topic{name: name}
}

// readyChanLocked returns a channel that is closed once the node's position is known
// (already closed when it is). The channel is made only when someone waits: an idle topic
// holds none.
func (t *topic) readyChanLocked() <-chan struct{} {
	if t.ready {
		return closedChan
	}
	x := t.sideLocked()
	if x.readyCh == nil {
		x.readyCh = make(chan struct{})
	}
	return x.readyCh
}

// setReadyLocked marks the node's position known and wakes its waiters.
func (t *topic) setReadyLocked() {
	t.ready = true
	if x := t.side; x != nil && x.readyCh != nil {
		close(x.readyCh)
		x.readyCh = nil
		t.trimSideLocked()
	}
}

func (t *topic) lock()   { t.mu.Lock() }
func (t *topic) unlock() { t.mu.Unlock() }

// head returns the node's position in the topic and whether the event there was final.
func (t *topic) headLocked() (herald.Position, bool) {
	return herald.Position{Epoch: t.epoch, Seq: t.last}, t.closed
}

func (t *topic) addSubLocked(s *sub) {
	s.pos = int32(len(t.subs))
	t.subs = append(t.subs, s)
}

func (t *topic) removeSubLocked(s *sub) {
	last := int32(len(t.subs) - 1)
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
		h.spawn(func() { h.syncSubscription(t) })
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
		h.spawn(func() { h.syncSubscription(t) })
	}
}

func (h *Hub) wanted(t *topic) bool {
	s := h.shard(t.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.refs > 0
}

// syncSubscription brings the engine subscription in line with the reference count, and
// forgets the topic when nobody holds it. A failed Subscribe is retried with back-off; the
// engine's Resync (its connection is back) cuts the back-off short.
func (h *Hub) syncSubscription(t *topic) {
	t.opMu.Lock()
	defer t.opMu.Unlock()
	backoff := retryMin
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
				if !h.pause(backoff, true) {
					return
				}
				backoff = min(backoff*2, retryMax)
				continue
			}
			backoff = retryMin
			t.subscribed = true
			// Read the head after the subscription is active: every later event arrives
			// live, every earlier one is in history (stitch.go).
			t.lock()
			h.refillLocked(t)
			t.unlock()
			time.AfterFunc(h.opts.Settle, func() { h.recheck(t) })
		case !want && t.subscribed:
			if err := h.engine.Unsubscribe(h.ctx, t.name); err != nil && h.ctx.Err() == nil {
				h.log.Warn("engine unsubscribe failed", "topic", t.name, "err", err)
			}
			t.subscribed = false
			t.lock()
			t.forgetLocked()
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

// Back-off bounds for retried engine calls (Subscribe, History).
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

// pause waits d, or less when the hub closes (false) or, with onResync, when the engine
// reports its feed back (Resync).
func (h *Hub) pause(d time.Duration, onResync bool) bool {
	var resynced <-chan struct{}
	if onResync {
		h.resyncMu.Lock()
		resynced = h.resynced
		h.resyncMu.Unlock()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-h.ctx.Done():
		return false
	case <-tm.C:
	case <-resynced:
	}
	return true
}

// spawn runs f in a goroutine that Close waits for. Once the hub is closing it runs nothing
// and reports false.
func (h *Hub) spawn(f func()) bool {
	h.spawnMu.Lock()
	if h.stopping {
		h.spawnMu.Unlock()
		return false
	}
	h.wg.Add(1)
	h.spawnMu.Unlock()
	go func() {
		defer h.wg.Done()
		f()
	}()
	return true
}
