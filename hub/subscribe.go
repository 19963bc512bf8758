package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// Request describes a stream a client asks for.
type Request struct {
	// Topics in canonical order: sorted, without duplicates. The cursor follows this order.
	Topics []herald.Topic
	// Cursor holds one position per topic from the client's Last-Event-ID, or nil.
	Cursor herald.Cursor
	// CursorError, when set, is the reset reason for a cursor the client sent but that
	// cannot be used (ResetMalformed, ResetMismatch); the stream starts live after a reset.
	CursorError string
	// Earliest asks for every topic's whole retained history.
	Earliest bool
	// Replay, per topic, replays retained history to a subscriber that sent no cursor
	// (a namespace with "replay: all"). Nil means none.
	Replay []bool
	// User is the token subject, "" for anonymous clients.
	User string
	// Deadline, when not zero, ends the stream like MaxLifetime (ReasonLifetime) at this
	// time if that comes first: the server sets it to the token's expiry.
	Deadline time.Time
}

// Open registers interest in req's topics and waits briefly (Options.ReadyWait) for the
// node to know where each topic stands, so that Ended can answer before the response is
// committed. Every Conn returned must be run with Run or given back with Release.
func (h *Hub) Open(ctx context.Context, req Request) *Conn {
	c := &Conn{
		h:    h,
		id:   connIDs.Add(1),
		req:  req,
		tops: make([]*topic, len(req.Topics)),
		subs: make([]sub, len(req.Topics)),
		pos:  make([]herald.Position, len(req.Topics)),
		done: make(chan struct{}),
	}
	for i, name := range req.Topics {
		c.tops[i] = h.acquire(name)
		c.subs[i] = sub{conn: c, idx: int32(i), pos: -1}
	}
	wait, cancel := context.WithTimeout(ctx, h.opts.ReadyWait)
	defer cancel()
	c.waitReady(wait.Done(), nil)
	return c
}

// OnEnd sets f to be called once when the stream ends, after the observer was told; for a
// detached stream that is long after its handler returned. Call it before Run or RunDetached.
func (c *Conn) OnEnd(f func()) { c.onEnd = f }

// Release gives back a Conn that will not be run.
func (c *Conn) Release() {
	for _, t := range c.tops {
		c.h.release(t)
	}
	c.tops = nil
}

// waitReady waits until every topic's position is known or done is closed, calling tick
// (if not nil) on every heartbeat interval. It reports whether all are ready.
func (c *Conn) waitReady(done <-chan struct{}, tick func() error) bool {
	var ticker *time.Ticker
	var tc <-chan time.Time
	if tick != nil {
		ticker = time.NewTicker(c.h.opts.Heartbeat)
		defer ticker.Stop()
		tc = ticker.C
	}
	for _, t := range c.tops {
		t.lock()
		ch := t.readyCh
		t.unlock()
	wait:
		for {
			select {
			case <-ch:
				break wait
			default:
			}
			select {
			case <-ch:
				break wait
			case <-done:
				return false
			case <-tc:
				if err := tick(); err != nil {
					return false
				}
			}
		}
	}
	return true
}

// Ended reports that the stream has nothing to send, ever: every topic is closed by a final
// event that the client has already seen (or, without a cursor and replay, will never be
// sent). The HTTP layer answers 204, which stops an EventSource for good. It is false when
// the node did not learn the topics' state within Options.ReadyWait.
func (c *Conn) Ended() bool {
	for i, t := range c.tops {
		t.lock()
		ready, closed, head := t.ready, t.closed, herald.Position{Epoch: t.epoch, Seq: t.last}
		t.unlock()
		if !ready || !closed {
			return false
		}
		switch {
		case c.req.Cursor != nil:
			if p := c.req.Cursor[i]; p.Epoch != head.Epoch || p.Seq < head.Seq {
				return false
			}
		case c.req.Earliest || c.replay(i) || c.req.CursorError != "":
			return false
		}
	}
	return true
}

func (c *Conn) replay(i int) bool { return c.req.Replay != nil && c.req.Replay[i] }

// closedChan is a closed channel: waiting on it only checks.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// plan is what the stitch does for one topic.
type plan struct {
	head   herald.Position // the node's position when the connection registered
	closed bool            // the topic was closed at head
	after  uint64          // replay history after this sequence, up to head.Seq
	chain  bool            // the first replayed event must have Prev == after, else reset
	replay bool
	reset  string // reset reason, "" for none
}

// Run serves the stream: the preamble, the wait for the engine, history replay from the
// cursor, then live frames until the client leaves, the stream's topics all end, its
// lifetime passes or the node drains. It returns why the stream ended. ctxDone is closed when
// the client goes away.
func (c *Conn) Run(ctxDone <-chan struct{}, st Stream) Reason {
	c.wake = make(chan struct{}, 1) // before setup registers the connection on its topics
	c.stream = st
	c.start = time.Now()
	c.h.obs.ConnOpened()
	r, live := c.setup(ctxDone)
	if live {
		r = c.serveLive(ctxDone)
	}
	c.finish(r)
	return r
}

// setup writes the preamble, waits for the engine, registers the connection and replays its
// history. It reports live when the stream goes on (the connection is then in the hub's set),
// else why it ended.
func (c *Conn) setup(ctxDone <-chan struct{}) (r Reason, live bool) {
	h := c.h
	pre := []byte(":ok\n")
	pre = sse.AppendRetry(pre, h.opts.Retry)
	// When the node knows every topic's position, register before the first bytes go out:
	// then every event published after the client sees the response reaches it. Otherwise
	// (the engine is slow or down) commit the response at once and wait, with heartbeats.
	ready := c.waitReady(closedChan, nil)
	if !ready || h.draining.Load() {
		if err := c.write(pre, time.Now()); err != nil {
			return writeErrReason(err), false
		}
		if h.draining.Load() {
			return ReasonShutdown, false
		}
		hb := func() error { return c.write(h.heartbeat.Load().buf, time.Now()) }
		if !c.waitReady(ctxDone, hb) {
			return ReasonClientClosed, false
		}
	}

	// Register under each topic's lock at the node's position.
	plans := make([]plan, len(c.tops))
	for i, t := range c.tops {
		t.lock()
		p := &plans[i]
		p.head, p.closed = herald.Position{Epoch: t.epoch, Seq: t.last}, t.closed
		if !p.closed {
			t.addSubLocked(&c.subs[i])
		}
		t.unlock()
		c.planTopic(i, p)
	}
	c.open = len(c.tops)
	if ready {
		if err := c.write(pre, time.Now()); err != nil {
			return writeErrReason(err), false
		}
	}
	if c.req.CursorError != "" {
		if err := c.writeReset(c.req.CursorError, c.req.Topics); err != nil {
			return writeErrReason(err), false
		}
	}
	wroteID := c.req.CursorError != ""
	for i := range plans {
		p := &plans[i]
		if p.reset != "" {
			if err := c.writeReset(p.reset, c.req.Topics[i:i+1]); err != nil {
				return writeErrReason(err), false
			}
			wroteID = true
		}
		if p.replay {
			n, err := c.replayTopic(i, p)
			if err != nil {
				return writeErrReason(err), false
			}
			wroteID = wroteID || n > 0
		}
		if p.closed && c.pos[i] == p.head {
			c.open--
		}
	}
	if !wroteID {
		// Hand the client its starting cursor (an id with no data dispatches nothing but
		// sets EventSource's lastEventId), so a reconnect before the first event still
		// resumes exactly.
		b := append(c.wbuf[:0], "id: "...)
		b = herald.AppendCursor(b, c.pos)
		b = append(b, '\n', '\n')
		c.wbuf = b
		if err := c.write(b, time.Now()); err != nil {
			return writeErrReason(err), false
		}
	}
	if c.open <= 0 {
		return ReasonFinal, false
	}
	c.deadline = h.lifetimeDeadline(c.start)
	if d := c.req.Deadline; !d.IsZero() && (c.deadline == 0 || d.UnixNano() < c.deadline) {
		c.deadline = d.UnixNano()
	}
	c.lastWrite.Store(time.Now().UnixNano())
	if h.opts.Presence != nil {
		h.opts.Presence.Join(c.req.User, c.req.Topics)
		c.joined = true
	}
	h.addConn(c)
	if h.draining.Load() {
		c.close(ReasonShutdown)
	}
	return 0, true
}

// planTopic decides replay and reset for topic i from the client's cursor and the node's
// position, and sets the connection's starting position.
func (c *Conn) planTopic(i int, p *plan) {
	head := p.head
	c.pos[i] = head
	switch {
	case c.req.Cursor != nil:
		cur := c.req.Cursor[i]
		switch {
		case cur.Epoch == head.Epoch && head.Epoch != "":
			switch {
			case cur.Seq == head.Seq:
			case cur.Seq < head.Seq:
				p.replay, p.chain, p.after = true, true, cur.Seq
				c.pos[i] = cur
			default:
				p.reset = ResetMalformed
			}
		case cur.Epoch == "" && cur.Seq == 0:
			// The client saw nothing of a topic that had no history then.
			if head.Seq > 0 {
				p.replay, p.chain, p.after = true, true, 0
				c.pos[i] = herald.Position{Epoch: head.Epoch}
			}
		default:
			p.reset = ResetEpoch
		}
	case c.req.CursorError != "":
	case c.req.Earliest || c.replay(i):
		if head.Seq > 0 {
			p.replay, p.after = true, 0
			c.pos[i] = herald.Position{Epoch: head.Epoch}
		}
	}
}

// replayTopic writes topic i's history from p.after up to p.head, in pages.
func (c *Conn) replayTopic(i int, p *plan) (int, error) {
	h := c.h
	t := c.tops[i]
	after := p.after
	total := 0
	first := true
	for after < p.head.Seq {
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		hist, err := h.engine.History(ctx, t.name, after, h.opts.HistoryPage)
		cancel()
		if err != nil {
			// History is unreachable: say so rather than leave a silent gap.
			h.log.Warn("history read failed during replay", "topic", t.name, "err", err)
			c.pos[i] = p.head
			return total, c.writeReset(ResetExpired, c.req.Topics[i:i+1])
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
			return total, c.writeReset(ResetExpired, c.req.Topics[i:i+1])
		}
		first = false
		b := c.wbuf[:0]
		n := 0
		for j := range evs {
			ev := &evs[j]
			if ev.Seq > p.head.Seq {
				break
			}
			c.pos[i] = ev.Position
			if len(c.pos) == 1 {
				b = append(b, "id: "...)
				b = herald.AppendPosition(b, ev.Position)
				b = append(b, '\n')
			} else {
				b = append(b, "id: "...)
				b = herald.AppendCursor(b, c.pos)
				b = append(b, '\n')
			}
			b = sse.AppendEvent(b, string(ev.Name), ev.Data)
			after = ev.Seq
			n++
		}
		c.wbuf = b
		if err := c.write(b, time.Now()); err != nil {
			return total, err
		}
		total += n
		h.obs.Replayed(n)
		if n < len(evs) {
			break
		}
	}
	return total, nil
}

// writeReset sends an "event: reset" for topics with the connection's current cursor.
func (c *Conn) writeReset(reason string, topics []herald.Topic) error {
	b := append(c.wbuf[:0], "id: "...)
	b = herald.AppendCursor(b, c.pos)
	b = append(b, '\n')
	b = appendResetBody(b, reason, topics)
	c.wbuf = b
	c.h.obs.Reset(reason)
	return c.write(b, time.Now())
}

// finish unregisters the connection and reports its end.
func (c *Conn) finish(r Reason) {
	h := c.h
	c.close(r)
	r, _ = c.closeReason() // the first reason wins
	h.removeConn(c)
	for i, t := range c.tops {
		t.lock()
		t.removeSubLocked(&c.subs[i])
		t.unlock()
	}
	c.Release()
	if c.joined {
		h.opts.Presence.Leave(c.req.User, c.req.Topics)
		c.joined = false
	}
	c.mu.Lock()
	clear(c.q)
	c.q = nil
	c.mu.Unlock()
	clear(c.wq)
	c.wq, c.wbuf = nil, nil
	info := ConnInfo{User: c.req.User, Topics: len(c.req.Topics), Bytes: c.bytes, Events: c.evs,
		Duration: time.Since(c.start), Reason: r}
	h.obs.ConnClosed(info)
	level := slog.LevelDebug
	if r == ReasonSlowConsumer {
		level = slog.LevelWarn
	}
	if h.log.Enabled(h.ctx, level) {
		h.log.Log(h.ctx, level, "stream ended", "reason", r.String(), "duration", info.Duration.Round(time.Millisecond),
			"topics", info.Topics, "bytes", info.Bytes, "events", info.Events, "user", info.User,
			"queue_bound", fmt.Sprint(h.opts.MaxQueueBytes))
	}
	if c.onEnd != nil {
		c.onEnd()
		c.onEnd = nil
	}
}
