package hub

import (
	"context"
	"time"

	"github.com/heraldpush/herald"
)

// The stitch, node level: each topic's events reach this node's subscribers once, in order,
// with no gap, whatever the engine delivers.
//
// The node keeps its position in each followed topic (epoch and last sequence fanned out).
// A live event whose Prev is that position continues the chain: it is encoded once and queued
// on every subscriber. One at or before it is a duplicate and is dropped. Anything else (a
// gap: a lost Pub/Sub message, a reordered republish, a feed that reconnected, a new epoch)
// is held, and a fill reads history after the node's position, fans those events out, and
// then splices the held events back in by their Prev. Live events that arrive while a fill
// runs are held too, so a busy topic is never stuck re-reading history: one read plus the
// splice catch it up. A history whose epoch changed becomes an `event: reset` to the
// subscribers, and one that lost events the node never fanned out becomes an `expired` reset.
//
// The first round of a fill on a new subscription only reads the head: every later event
// arrives live or is in the history the next round reads (the engine subscription is active
// before the head is read).
//
// The stream level — where a new connection starts, what it replays, what it resets, and
// when it has nothing left to receive — is in stitch_stream.go.

// maxHeldBytes bounds the data of the live events a topic holds while it fills; past it the
// held events are dropped and the fill reads them from history instead.
const maxHeldBytes = 4 << 20

// link is how a live event relates to the node's position in its topic.
type link uint8

const (
	linkNext link = iota // continues the chain
	linkSeen             // at or before the position: a duplicate
	linkGap              // something is missing in between, or the epoch changed
)

func (t *topic) linkLocked(ev *herald.Event) link {
	switch {
	case ev.Epoch == t.epoch && ev.Seq <= t.last:
		return linkSeen
	case (ev.Epoch == t.epoch || t.epoch == "") && ev.Prev == t.last:
		return linkNext
	}
	return linkGap
}

// Deliver implements herald.Sink: it fans a live event out to the topic's subscribers if it
// continues the node's chain, drops it if already seen, and otherwise holds it and fills the
// gap from history.
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
	switch {
	case !t.ready || t.filling:
		t.holdLocked(ev)
	default:
		switch t.linkLocked(ev) {
		case linkNext:
			h.fanoutLocked(t, ev, &own)
		case linkGap:
			t.holdLocked(ev)
			h.refillLocked(t)
		}
	}
	t.unlock()
	for _, c := range own.c[:own.n] {
		h.pool.serveInline(c)
	}
}

// holdLocked keeps a copy of ev for the running or coming fill to splice in.
func (t *topic) holdLocked(ev *herald.Event) {
	x := t.sideLocked()
	if x.heldSize+len(ev.Data) > maxHeldBytes {
		// Too much to hold: the fill reads all of it from history instead.
		t.dropHeldLocked()
		t.dirty = true
		return
	}
	c := *ev
	c.Data = append([]byte(nil), ev.Data...)
	x.held = append(x.held, c)
	x.heldSize += len(c.Data)
}

func (t *topic) dropHeldLocked() {
	x := t.side
	if x == nil {
		return
	}
	clear(x.held)
	x.held = x.held[:0]
	if cap(x.held) > 64 {
		x.held = nil
	}
	x.heldSize = 0
	t.trimSideLocked()
}

// forgetLocked drops the node's position when the engine subscription ends: the next one
// starts from the head again.
func (t *topic) forgetLocked() {
	t.ready = false
	t.gen++
	t.dirty = false
	t.dropHeldLocked()
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

// fanoutLocked encodes ev once and queues it on every subscriber.
// With own (nil: none), a fan-out of at most inlineMax connections claims the pooled ones
// nobody is writing into own, for the caller to serve once it has released t's lock.
func (h *Hub) fanoutLocked(t *topic, ev *herald.Event, own *inlineConns) {
	t.epoch, t.last, t.closed = ev.Epoch, ev.Seq, ev.Final
	if t.side != nil {
		followEventLocked(t, ev)
	}
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
func (h *Hub) resetLocked(t *topic, reason ResetReason, pos herald.Position, closed bool) {
	t.epoch, t.last, t.closed = pos.Epoch, pos.Seq, closed
	if t.side != nil {
		followResetLocked(t, reason, pos)
	}
	if len(t.subs) == 0 {
		return
	}
	f := newResetFrame(t.name, reason, pos)
	for _, s := range t.subs {
		s.conn.enqueue(f, s.idx)
	}
	h.obs.Reset(reason)
}

// refillLocked asks for a history read after the node's position: it starts a fill, or
// makes the running one read once more. It returns a channel closed when that fill has
// caught up (its last round started after this call). Before the topic is subscribed there
// is nothing to fill: the subscription's own fill covers it.
func (h *Hub) refillLocked(t *topic) <-chan struct{} {
	t.dirty = true
	if !t.filling {
		t.filling = true
		t.sideLocked().fillDone = make(chan struct{})
		gen := t.gen
		if !h.spawn(func() { h.fill(t, gen) }) {
			t.endFillLocked() // the hub is closing
			return nil
		}
	}
	return t.side.fillDone
}

func (t *topic) endFillLocked() {
	t.filling = false
	close(t.side.fillDone)
	t.side.fillDone = nil
	t.trimSideLocked()
}

// restartFillLocked ends a fill that served an engine subscription which has since ended,
// and starts one for the current subscription if it asked for a read meanwhile.
func (h *Hub) restartFillLocked(t *topic) {
	t.endFillLocked()
	if t.dirty {
		h.refillLocked(t)
	}
}

// recheck rereads a topic's history after its position, if it is still followed.
func (h *Hub) recheck(t *topic) {
	if h.ctx.Err() != nil || !h.wanted(t) {
		return
	}
	t.lock()
	if t.ready {
		h.refillLocked(t)
	}
	t.unlock()
}

// Resync implements herald.Sink: every followed topic rereads history after its position,
// and engine subscriptions waiting to retry try again at once.
func (h *Hub) Resync() {
	h.resyncMu.Lock()
	close(h.resynced)
	h.resynced = make(chan struct{})
	h.resyncMu.Unlock()
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
			if t.ready {
				h.refillLocked(t)
			}
			t.unlock()
		}
	}
}

// fill reads history after the node's position until the topic has caught up, fanning the
// events out and splicing in the live events held meanwhile. A topic not yet ready first
// reads its head. gen is the engine subscription the fill serves.
func (h *Hub) fill(t *topic, gen uint32) {
	backoff := retryMin
	for {
		t.lock()
		if t.gen != gen {
			h.restartFillLocked(t)
			t.unlock()
			return
		}
		initial := !t.ready
		epoch, last := t.epoch, t.last
		t.dirty = false
		heldBefore := len(t.heldLocked()) // published before this read started, so covered by it
		t.unlock()

		limit := h.opts.HistoryPage
		if initial {
			limit = 0
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, t.name, last, limit)
		cancel()
		if err != nil {
			if h.ctx.Err() != nil || !h.wanted(t) || !h.pause(backoff, true) {
				t.lock()
				t.endFillLocked()
				t.unlock()
				return
			}
			h.log.Warn("history read failed; retrying", "topic", t.name, "err", err, "retry_in", backoff)
			backoff = min(backoff*2, retryMax)
			continue
		}

		t.lock()
		if t.gen != gen {
			h.restartFillLocked(t)
			t.unlock()
			return
		}
		if initial {
			t.epoch, t.last, t.closed = hist.State.Epoch, hist.State.Last, hist.State.Closed
			t.setReadyLocked()
		} else {
			h.applyHistoryLocked(t, epoch, &hist, limit)
		}
		h.spliceLocked(t, heldBefore, hist.State)
		if !t.dirty && len(t.heldLocked()) == 0 {
			t.endFillLocked()
			t.unlock()
			return
		}
		// Held events the history read could not explain (a store that lags its own feed)
		// wait a little before the next read; anything else reads again at once.
		stuck := !t.dirty && t.epoch == epoch && t.last == last
		t.unlock()
		if stuck {
			if !h.pause(backoff, false) {
				t.lock()
				t.endFillLocked()
				t.unlock()
				return
			}
			backoff = min(backoff*2, retryMax)
		} else {
			backoff = retryMin
		}
	}
}

// applyHistoryLocked fans out the events of a history read after the node's position
// (epoch, last when the read started).
func (h *Hub) applyHistoryLocked(t *topic, epoch string, hist *herald.History, limit int) {
	st := hist.State
	switch {
	case st.Epoch == "":
		// The topic has no history now (expired, or the broker was flushed). Nothing to
		// deliver; keep the position. If a new epoch starts, its first event breaks the
		// chain and the fill after it resets the subscribers: the node cannot know whether
		// it missed events of the lost epoch, so it must not follow silently.
	case st.Epoch != epoch && epoch != "":
		// The history we were following is gone (broker flushed, topic expired and
		// recreated): tell subscribers and go on from the new head.
		h.resetLocked(t, ResetEpoch, st.Head(), st.Closed)
	default:
		for i := range hist.Events {
			ev := &hist.Events[i]
			if ev.Epoch == t.epoch && ev.Seq <= t.last {
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
}

// spliceLocked fans out the held live events that now continue the chain, drops those
// already fanned out, and keeps the rest for the next round. Of the first heldBefore events
// (held before the history read st started, so published before it), one of an epoch the
// store no longer has (or a store with no history of the topic at all) can never be fanned
// out and is dropped.
func (h *Hub) spliceLocked(t *topic, heldBefore int, st herald.TopicState) {
	x := t.side
	if x == nil || len(x.held) == 0 {
		return
	}
	keep := make([]bool, len(x.held))
	for i := range keep {
		keep[i] = true
	}
	// Passes until nothing more links: one for a feed in order, a few for a reordered one.
	for progress := true; progress; {
		progress = false
		for i := range x.held {
			if !keep[i] {
				continue
			}
			ev := &x.held[i]
			switch t.linkLocked(ev) {
			case linkNext:
				h.fanoutLocked(t, ev, nil)
				keep[i], progress = false, true
			case linkSeen:
				keep[i] = false
			}
		}
	}
	kept := 0
	size := 0
	for i := range x.held {
		ev := x.held[i]
		stale := i < heldBefore && ev.Epoch != st.Epoch
		if keep[i] && !stale {
			x.held[kept] = ev
			kept++
			size += len(ev.Data)
		}
	}
	clear(x.held[kept:])
	x.held = x.held[:kept]
	x.heldSize = size
	if kept == 0 && cap(x.held) > 64 {
		x.held = nil
	}
	t.trimSideLocked()
}
