package hub

// Detached streams on a transport the pool does not write itself: a FrameSink, such as an
// HTTP/2 stream that shares its connection with other streams (package internal/h2conn).
//
// The pool drives a sink stream exactly like a hijacked HTTP/1.1 stream (pool.go), with
// the same ownership rules; only the write differs. Instead of a non-blocking write(2) the
// worker hands the encoded bytes to Sink.Send, which never blocks: it frames what the
// transport lets it send now (its flow-control windows, its connection's buffer) and keeps
// the rest. When it kept bytes, the sink owns the stream the way a flusher does: fan-out
// still queues (and the queue bound still cuts a slow consumer off), and the sink calls the
// resume function once it sent what it kept, which hands the stream back to its worker. A
// stream that stays blocked for the write timeout is a slow consumer.

import (
	"time"
)

// FrameSink carries a detached stream's bytes over a transport shared with other streams.
// Its Stream methods serve the setup (preamble and history) with blocking writes in the
// goroutine of RunSink; after that the writer pool uses Send and End.
type FrameSink interface {
	Stream
	// Attach gives the sink the hub's callbacks: resume, to call once it has sent all it
	// kept after a Send that reported false; gone, to call when the client left (the stream
	// was reset, the connection closed). The sink calls them without holding its own locks,
	// from any goroutine.
	Attach(resume, gone func())
	// Send takes p without blocking and without keeping a reference to it. It reports false
	// when it kept part of p (copied) to send later.
	Send(p []byte) bool
	// End ends the stream once. With graceful, the sink sends tail and ends the stream
	// cleanly if it holds nothing unsent and the transport lets it send tail now; otherwise,
	// and without graceful, it drops what it kept and resets the stream.
	End(tail []byte, graceful bool)
}

// RunSink serves the stream through sink, like RunDetached: the preamble and history are
// written in the caller's goroutine through sink's blocking Write, then the stream is
// handed to the writer pool and RunSink returns (detached true); the pool ends it later with
// sink.End. If the stream ends during the setup instead, it returns why, with detached false,
// the sink ended. CanDetach must have reported true.
func (c *Conn) RunSink(sink FrameSink) (r Reason, detached bool) {
	h := c.h
	p := h.pool
	c.stream = sink
	c.sink = &sinkConn{sink: sink} // read by the pool only once it drives c
	c.start = time.Now()
	h.obs.ConnOpened()
	sink.Attach(func() { p.resumeSink(c) }, func() { c.close(ReasonClientClosed) })
	r, live := c.setup(c.done)
	if live && p != nil && p.adopt() {
		p.takeOver(c)
		return 0, true
	}
	if live {
		r = ReasonShutdown
	}
	c.finish(r)
	r, _ = c.closeReason()
	sink.End(nil, graceful(r))
	return r, false
}

// sinkConn is what the pool keeps of a sink stream: the sink and the state of its ownership.
type sinkConn struct {
	sink    FrameSink
	stall   *time.Timer // guarded by Conn.mu: the sink has been blocked since this timer started
	resumed bool        // guarded by Conn.mu: the sink resumed c before writeSink handed it over
}

// writeSink hands w.ents to c's sink. It reports false when the sink kept bytes and owns c
// until it resumes it (or the stall timer or a close takes it back).
func (w *worker) writeSink(c *Conn) bool {
	nowNs := time.Now().UnixNano()
	b, lat, n := c.encode(w.buf[:0], w.lat[:0], w.ents, nowNs)
	w.lat = lat
	clear(w.ents)
	if cap(w.ents) > 4096 {
		w.ents = nil
	}
	if len(b) == 0 {
		return true
	}
	// Everything the owner does with c happens before Send: once the sink kept bytes, it
	// may resume c in another goroutine at any moment.
	c.bytes += int64(len(b))
	wrote(c, nowNs, n, lat)
	sent := c.sink.sink.Send(b)
	if cap(b) <= 64<<10 {
		w.buf = b[:0]
	} else {
		w.buf = nil
	}
	if sent {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sink.resumed {
		// The sink sent what it kept before we got here: we still own c.
		c.sink.resumed = false
		return true
	}
	if c.closed && c.reason != ReasonFinal {
		return true // closed meanwhile: ours to end (the sink drops what it kept)
	}
	// The sink owns c now: a close takes it back, and a client that opens no window for the
	// write timeout is cut off.
	c.flushing = true
	p := w.p
	c.sink.stall = time.AfterFunc(c.h.opts.WriteTimeout, func() { p.stalled(c) })
	return false
}

// resumeSink is the sink's resume callback: it hands c back to its worker.
func (p *pool) resumeSink(c *Conn) {
	c.mu.Lock()
	if c.flushing {
		p.takeBackLocked(c)
	} else {
		c.sink.resumed = true // before writeSink handed c over: it keeps it
	}
	c.mu.Unlock()
}

// stalled ends a sink stream that stayed blocked for the write timeout.
func (p *pool) stalled(c *Conn) {
	c.mu.Lock()
	if c.flushing {
		c.closeLocked(ReasonSlowConsumer)
		if c.flushing { // a final close leaves the sink its bytes; a stall ends that too
			p.takeBackLocked(c)
		}
	}
	c.mu.Unlock()
}

// takeBackLocked ends the sink's ownership of c and gives c to its worker, which still
// counts as its owner (scheduled stays set).
func (p *pool) takeBackLocked(c *Conn) {
	c.flushing = false
	if s := c.sink; s.stall != nil {
		s.stall.Stop()
		s.stall = nil
	}
	p.worker(c).push(c)
}

// endSink finishes a closed sink connection; the worker owns it and nobody else ever will.
func (w *worker) endSink(c *Conn, r Reason) {
	var tail []byte
	if graceful(r) && r != ReasonFinal && c.open > 0 {
		var n int
		tail, w.lat, n = c.encode(w.buf[:0], w.lat[:0], w.ents, time.Now().UnixNano())
		c.evs += int64(n)
		c.bytes += int64(len(tail))
	}
	c.sink.sink.End(tail, graceful(r))
	w.buf = tail[:0]
	clear(w.ents)
	c.finish(r)
	w.p.conns.Done()
}
