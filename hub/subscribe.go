package hub

// Opening a stream: the request, registering it on its topics, the preamble and history
// setup shared by both writers, and the end (finish).

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
	CursorError ResetReason
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
	st := &setupState{
		cursor:      req.Cursor,
		cursorError: req.CursorError,
		earliest:    req.Earliest,
		replay:      req.Replay,
		deadline:    req.Deadline,
	}
	if len(req.Topics) == 1 {
		st.catchUp = st.catchUp1[:]
	} else {
		st.catchUp = make([]<-chan struct{}, len(req.Topics))
	}
	c := &Conn{
		h:      h,
		id:     connIDs.Add(1),
		topics: req.Topics,
		user:   req.User,
		tops:   make([]*topic, len(req.Topics)),
		subs:   make([]sub, len(req.Topics)),
		pos:    make([]herald.Position, len(req.Topics)),
		done:   make(chan struct{}),
		st:     st,
		widx:   -1,
	}
	for i, name := range req.Topics {
		c.tops[i] = h.acquire(name)
		c.subs[i] = sub{conn: c, idx: int32(i), pos: -1}
	}
	wait, cancel := context.WithTimeout(ctx, h.opts.ReadyWait)
	defer cancel()
	c.awaitTopics(wait.Done(), nil)
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

// setup writes the preamble, waits for the engine, registers the connection and replays its
// history. It reports live when the stream goes on (the connection is then in the hub's set),
// else why it ended.
func (c *Conn) setup(ctxDone <-chan struct{}) (r Reason, live bool) {
	h := c.h
	pre := []byte(":ok\n")
	pre = sse.AppendRetry(pre, h.opts.Retry)
	// When the node knows every topic's position, register before the first bytes go out:
	// then every event published after the client sees the response reaches it. Otherwise
	// (the engine is slow or down) commit the response at once and wait, with heartbeats;
	// a stream without a cursor then replays what was accepted since its response.
	ready := c.awaitTopics(closedChan, nil)
	if !ready || h.draining.Load() {
		c.st.since = time.Now().Add(-h.opts.ClockSkew).UnixNano()
		if err := c.write(pre, time.Now()); err != nil {
			return writeErrReason(err), false
		}
		if h.draining.Load() {
			return ReasonShutdown, false
		}
		hb := func() error { return c.write(h.heartbeat.Load().buf, time.Now()) }
		if !c.awaitTopics(ctxDone, hb) {
			return ReasonClientClosed, false
		}
	}

	// Register under each topic's lock at the node's position.
	plans := make([]plan, len(c.tops))
	for i, t := range c.tops {
		t.lock()
		head, closed := t.headLocked()
		p := c.planTopic(i, head, closed)
		if !p.closed {
			t.addSubLocked(&c.subs[i])
		}
		t.unlock()
		c.pos[i] = p.start
		plans[i] = p
	}
	for i := range plans {
		if p := &plans[i]; p.since {
			c.resolveSince(i, p, c.st.since)
			c.pos[i] = p.start
		}
	}
	c.open = int32(len(c.tops))
	c.st.catchUp = nil // only the wait before registering needed it
	if ready {
		if err := c.write(pre, time.Now()); err != nil {
			return writeErrReason(err), false
		}
	}
	if c.st.cursorError != "" {
		if err := c.writeReset(c.st.cursorError, c.topics); err != nil {
			return writeErrReason(err), false
		}
	}
	wroteID := c.st.cursorError != ""
	for i := range plans {
		p := &plans[i]
		if p.reset != "" {
			if err := c.writeReset(p.reset, c.topics[i:i+1]); err != nil {
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
		if p.closed {
			c.open--
		}
	}
	if !wroteID {
		// Hand the client its starting cursor (an id with no data dispatches nothing but
		// sets EventSource's lastEventId), so a reconnect before the first event still
		// resumes exactly.
		b := append(c.appendID(c.st.buf[:0]), '\n')
		c.st.buf = b
		if err := c.write(b, time.Now()); err != nil {
			return writeErrReason(err), false
		}
	}
	if c.open <= 0 {
		return ReasonFinal, false
	}
	c.deadline = h.lifetimeDeadline(c.start)
	if d := c.st.deadline; !d.IsZero() && (c.deadline == 0 || d.UnixNano() < c.deadline) {
		c.deadline = d.UnixNano()
	}
	c.lastWrite.Store(time.Now().UnixNano())
	if h.opts.Presence != nil {
		h.opts.Presence.Join(c.user, c.topics)
		c.joined = true
	}
	// The setup's state goes; a goroutine writer keeps the buffer for its writes.
	if c.gw != nil {
		c.gw.wbuf = c.st.buf
	}
	c.st = nil
	h.addConn(c)
	if h.draining.Load() {
		c.close(ReasonShutdown)
	}
	return 0, true
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
		h.opts.Presence.Leave(c.user, c.topics)
		c.joined = false
	}
	c.mu.Lock()
	clear(c.q)
	c.q = nil
	c.mu.Unlock()
	if g := c.gw; g != nil {
		clear(g.wq)
		g.wq, g.wbuf = nil, nil
	}
	info := ConnInfo{User: c.user, Topics: len(c.topics), Bytes: c.bytes, Events: c.evs,
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
