package hub

import (
	"context"
	"errors"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// The stitch, stream level: where a new stream starts in each of its topics.
//
// A stream registers, under each topic's lock, at the node's position H (stitch.go keeps it
// gap-free), replays history from its cursor up to H, writes it, and only then the live frames
// that queued meanwhile — all of which are after H. History and live never overlap, so
// nothing is deduplicated per connection.
//
// One plan per topic decides it all (planTopic), and Ended answers from the same plan:
//   - cursor at H: nothing to replay; before H in the same epoch: replay (cursor, H];
//   - cursor ahead of H: the node may just lag (the client saw the event on another node
//     first), so before planning the node catches up — one more history read after the
//     stream asked — and only a cursor still ahead of the cluster's head is malformed;
//   - cursor of another epoch: reset; earliest or a replay namespace: replay all retained;
//   - no cursor on a stream whose response went out before the node knew where its topics
//     stood (the engine was slow or down): replay the events accepted since that response,
//     so nothing published after the client saw its 200 is missed.

// plan is what the stitch does for one topic of a new stream.
type plan struct {
	head   herald.Position // the node's position when the connection registered
	closed bool            // the topic was closed at head
	start  herald.Position // the stream's position before replay
	after  uint64          // replay history after this sequence, up to head.Seq
	chain  bool            // the first replayed event must have Prev == after, else reset
	replay bool
	since  bool        // replay starts at the first event accepted since the stream's response
	reset  ResetReason // "" for none
}

// ended reports that the topic has nothing for the stream, ever.
func (p *plan) ended() bool { return p.closed && !p.replay && !p.since && p.reset == "" }

// planTopic decides replay and reset for topic i from the client's request and the node's
// position head (closed: the event there was final).
func (c *Conn) planTopic(i int, head herald.Position, closed bool) plan {
	p := plan{head: head, closed: closed, start: head}
	switch {
	case c.st.cursor != nil:
		cur := c.st.cursor[i]
		switch {
		case cur.Epoch == head.Epoch && head.Epoch != "":
			switch {
			case cur.Seq < head.Seq:
				p.replay, p.chain, p.after, p.start = true, true, cur.Seq, cur
			case cur.Seq > head.Seq:
				// The node caught up before planning (awaitTopics): beyond the cluster's head.
				p.reset = ResetMalformed
			}
		case cur.Epoch == "" && cur.Seq == 0:
			// The client saw nothing of a topic that had no history then.
			if head.Seq > 0 {
				p.replay, p.chain, p.after, p.start = true, true, 0, herald.Position{Epoch: head.Epoch}
			}
		default:
			p.reset = ResetEpoch
		}
	case c.st.cursorError != "":
	case c.st.earliest || c.replay(i):
		if head.Seq > 0 {
			p.replay, p.after, p.start = true, 0, herald.Position{Epoch: head.Epoch}
		}
	case c.st.since != 0:
		p.since = head.Seq > 0
	}
	return p
}

// aheadLocked reports that the client's cursor for topic i is past the node's position: in
// the same epoch further on, or in another epoch the node has not seen.
func (c *Conn) aheadLocked(i int, t *topic) bool {
	if c.st.cursor == nil {
		return false
	}
	cur := c.st.cursor[i]
	switch {
	case cur.Epoch == t.epoch:
		return cur.Seq > t.last
	case cur.Epoch == "":
		return false
	}
	return true
}

// Ended reports that the stream has nothing to send, ever: every topic is closed by a final
// event that the client has already seen (or, without a cursor and replay, will never be
// sent). The HTTP layer answers 204, which stops an EventSource for good. It is false when
// the node did not learn the topics' state within Options.ReadyWait.
func (c *Conn) Ended() bool {
	if c.st.cursorError != "" {
		return false
	}
	for i, t := range c.tops {
		t.lock()
		ready := t.ready && !c.aheadLocked(i, t)
		head, closed := t.headLocked()
		t.unlock()
		if !ready {
			return false
		}
		if p := c.planTopic(i, head, closed); !p.ended() {
			return false
		}
	}
	return true
}

func (c *Conn) replay(i int) bool { return c.st.replay != nil && c.st.replay[i] }

// closedChan is a closed channel: waiting on it only checks.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// awaitTopics waits until the node knows where each topic stands and, for a topic whose
// cursor is ahead of it, until it has read history once more (a lagging node catches up), or
// until done is closed, calling tick (if not nil) on every heartbeat interval. It reports
// whether all are ready.
func (c *Conn) awaitTopics(done <-chan struct{}, tick func() error) bool {
	var tc <-chan time.Time
	if tick != nil {
		ticker := time.NewTicker(c.h.opts.Heartbeat)
		defer ticker.Stop()
		tc = ticker.C
	}
	wait := func(ch <-chan struct{}) bool {
		for {
			select {
			case <-ch:
				return true
			default:
			}
			select {
			case <-ch:
				return true
			case <-done:
				return false
			case <-tc:
				if err := tick(); err != nil {
					return false
				}
			}
		}
	}
	for i, t := range c.tops {
		t.lock()
		ready := t.readyChanLocked()
		t.unlock()
		if !wait(ready) {
			return false
		}
		if c.st.catchUp[i] == nil {
			t.lock()
			if c.aheadLocked(i, t) {
				c.st.catchUp[i] = c.h.refillLocked(t)
			} else {
				c.st.catchUp[i] = closedChan
			}
			t.unlock()
		}
		if !wait(c.st.catchUp[i]) {
			return false
		}
	}
	return true
}

// replayTopic writes topic i's history from p.after up to p.head, in pages, and leaves the
// stream's position at p.head.
func (c *Conn) replayTopic(i int, p *plan) (int, error) {
	h := c.h
	t := c.tops[i]
	after := p.after
	total := 0
	first := true
	for after < p.head.Seq {
		hist, err := c.readHistory(t, after)
		if errors.Is(err, errStreamGone) {
			return total, err
		}
		if err != nil {
			// History stayed unreachable: say so rather than leave a silent gap.
			h.log.Warn("history read failed during replay", "topic", t.name, "err", err)
			c.pos[i] = p.head
			return total, c.writeReset(ResetExpired, c.topics[i:i+1])
		}
		evs := hist.Events
		contiguous := hist.State.Epoch == p.head.Epoch && len(evs) > 0
		if contiguous && evs[0].Prev != after {
			// Events between the cursor and the oldest retained one are gone; that is
			// only expected when replaying "everything retained".
			contiguous = first && !p.chain
		}
		if !contiguous {
			c.pos[i] = p.head
			return total, c.writeReset(ResetExpired, c.topics[i:i+1])
		}
		first = false
		b := c.st.buf[:0]
		n := 0
		for j := range evs {
			ev := &evs[j]
			if ev.Seq > p.head.Seq {
				break
			}
			c.pos[i] = ev.Position
			b = c.appendID(b)
			b = sse.AppendEvent(b, string(ev.Name), ev.Data)
			after = ev.Seq
			n++
		}
		c.st.buf = b
		if err := c.write(b, time.Now()); err != nil {
			return total, err
		}
		total += n
		h.obs.Replayed(n)
		if n < len(evs) {
			break
		}
	}
	c.pos[i] = p.head
	return total, nil
}

// replayPatience is how long a new stream's history read keeps retrying an engine that fails
// (a broker restarting) before the stream gets a reset instead of its replay.
const replayPatience = 15 * time.Second

// errStreamGone reports that the client went away while a history read was retried.
var errStreamGone = errors.New("hub: client gone while waiting for history")

// readHistory reads a page of t's history after after for a stream being set up. A failing
// engine is retried with back-off (cut short when the engine reports its feed back) for up to
// replayPatience, with a heartbeat to the client between tries, so a broker restart delays the
// replay instead of turning it into a reset.
func (c *Conn) readHistory(t *topic, after uint64) (herald.History, error) {
	h := c.h
	backoff := retryMin
	give := time.Now().Add(replayPatience)
	for {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, t.name, after, h.opts.HistoryPage)
		cancel()
		if err == nil || time.Now().After(give) || h.ctx.Err() != nil {
			return hist, err
		}
		if !h.pause(backoff, true) {
			return hist, err
		}
		backoff = min(backoff*2, retryMax)
		if c.write(h.heartbeat.Load().buf, time.Now()) != nil {
			return hist, errStreamGone
		}
	}
}

// resolveSince turns a since plan into a replay: it finds the first retained event accepted
// at or after minTime (engine time) and replays from just before it. Events are in time
// order, so the scan stops at the first one.
func (c *Conn) resolveSince(i int, p *plan, minTime int64) {
	h := c.h
	t := c.tops[i]
	after := uint64(0)
	for after < p.head.Seq {
		hist, err := c.readHistory(t, after)
		if err != nil || hist.State.Epoch != p.head.Epoch || len(hist.Events) == 0 {
			// Unreadable or gone: replay from where the stream registered; the gap (if
			// any) is announced as a reset.
			h.log.Warn("history read failed while resolving a stream's start", "topic", t.name, "err", err)
			if err != nil {
				p.reset = ResetExpired
			}
			return
		}
		for j := range hist.Events {
			ev := &hist.Events[j]
			if ev.Seq > p.head.Seq {
				return
			}
			if ev.Time >= minTime {
				p.replay, p.chain, p.after = true, true, ev.Prev
				p.start = herald.Position{Epoch: ev.Epoch, Seq: ev.Prev}
				return
			}
			after = ev.Seq
		}
	}
}

// writeReset sends an "event: reset" for topics with the connection's current cursor.
func (c *Conn) writeReset(reason ResetReason, topics []herald.Topic) error {
	b := c.appendID(c.st.buf[:0])
	b = appendResetBody(b, reason, topics)
	c.st.buf = b
	c.h.obs.Reset(reason)
	return c.write(b, time.Now())
}
