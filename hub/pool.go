package hub

import (
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// The writer pool and its ownership rules.
//
// The pool drives detached streams: plain HTTP/1.1 connections that the HTTP layer
// hijacked and handed over with RunDetached. An idle detached stream has no goroutine and no
// buffer of its own — only its Conn, its (usually empty) queue and the kernel's socket.
//
// Ownership. At any moment at most one party writes a detached connection, and the scheduled
// flag (under Conn.mu) says whether anybody does. enqueue and close set it and put the
// connection on its worker's run queue when it was clear; the owner clears it only when it
// finds the queue empty and the connection open. Owners are, in turn:
//
//   - a worker (one per GOMAXPROCS, chosen by connection id): it takes the queue, encodes the
//     frames into its own buffer as one HTTP/1.1 chunk and writes it with one non-blocking
//     write(2) through syscall.RawConn;
//   - a flusher goroutine, only when that write would block (EAGAIN or a partial write): it
//     copies the unwritten tail to sockConn.pend, writes it with a blocking write under the
//     write timeout, and hands the connection back to its worker's run queue.
//
// Ending. close marks the connection and schedules it; a flusher blocked in a write is
// interrupted by a past deadline. The worker that next owns a closed connection ends it
// exactly once: for final, lifetime and shutdown it writes what is queued and the chunked
// terminator (best effort, non-blocking; never after a lost tail), then it removes the
// connection from the poller, closes the socket and runs finish.
//
// Close detection needs no reader goroutine: one poller per hub (epoll on Linux) watches
// every detached socket for the peer's close; see poller_linux.go.

// pool is a hub's writer pool and poller.
type pool struct {
	h       *Hub
	workers []*worker
	poll    *poller
	stop    chan struct{}
	wg      sync.WaitGroup // workers and the poller goroutine
	inline  sync.Pool      // *worker scratch for serveInline

	mu     sync.Mutex
	closed bool           // no more detaches
	conns  sync.WaitGroup // detached connections not yet ended
}

// worker is one writer of the pool with its run queue and its own write buffers. An inline
// worker is only the buffers, lent to a goroutine that serves a connection it claimed
// (serveInline); it has no goroutine and no run queue.
type worker struct {
	p      *pool
	inline bool
	mu     sync.Mutex
	q      []*Conn // run queue, guarded by mu
	spare  []*Conn // the other run queue slice; they alternate
	wake   chan struct{}

	// Owned by the worker goroutine.
	rw   rawWriter
	ents []entry
	buf  []byte
	lat  []int64
}

func newPool(h *Hub) (*pool, error) {
	pl, err := newPoller(h)
	if err != nil {
		return nil, err
	}
	p := &pool{h: h, poll: pl, stop: make(chan struct{})}
	n := max(runtime.GOMAXPROCS(0), 1)
	for range n {
		w := &worker{p: p, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go w.run()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		pl.run()
	}()
	return p, nil
}

// shutdown waits until every detached connection has ended (the caller closed them), then
// stops the workers and the poller.
func (p *pool) shutdown() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.conns.Wait()
	close(p.stop)
	p.poll.wakeup()
	p.wg.Wait()
	p.poll.close()
}

func (p *pool) worker(c *Conn) *worker { return p.workers[c.id%uint64(len(p.workers))] }

// The pool's two entry points for a connection (called with c.mu held). A pooled connection
// calls nothing else of the pool: enqueue rings scheduleLocked, close rings closedLocked, and
// from then on the pool drives the connection.

// scheduleLocked hands a pooled connection to its worker unless somebody owns it already.
func (p *pool) scheduleLocked(c *Conn) {
	if c.scheduled {
		return
	}
	c.scheduled = true
	p.worker(c).push(c)
}

// closedLocked reacts to the close of a pooled connection: an owner that may be blocked (a
// flusher in its write, a sink holding bytes) is interrupted unless the end is final, and the
// connection is scheduled, so that its worker ends it.
func (p *pool) closedLocked(c *Conn, r Reason) {
	if c.flushing && r != ReasonFinal {
		if c.sink != nil {
			// Take the stream back from the sink; its worker ends it (and the sink drops
			// what it kept).
			p.takeBackLocked(c)
		} else {
			// Unblock the flusher; it hands the connection back to the pool, which ends it.
			_ = c.sock.nc.SetWriteDeadline(aLongTimeAgo)
		}
	}
	p.scheduleLocked(c)
}

// push puts c on the run queue. It never blocks: the queue is a slice, the wake channel a
// one-slot signal.
func (w *worker) push(c *Conn) {
	w.mu.Lock()
	w.q = append(w.q, c)
	first := len(w.q) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *worker) run() {
	defer w.p.wg.Done()
	for {
		select {
		case <-w.wake:
		case <-w.p.stop:
			return
		}
		for {
			w.mu.Lock()
			if len(w.q) == 0 {
				w.mu.Unlock()
				break
			}
			q := w.q
			w.q = w.spare[:0]
			w.mu.Unlock()
			for i, c := range q {
				w.serve(c)
				q[i] = nil
			}
			if cap(q) > 4096 {
				q = nil
			}
			w.spare = q
		}
	}
}

// maxRounds bounds the writes one connection gets before the worker moves on to the others.
const maxRounds = 4

// serveInline writes what c has queued in the calling goroutine, which claimed c (Conn.push
// with claim). Delivering an event to one or a few connections this way saves the handoff to
// a worker goroutine — a wake-up and a scheduling delay per event, which at 10,000 unicast
// events/s is a good part of the tail latency. The write never blocks: a full socket goes to
// a flusher as usual, and a closed connection to its worker, which ends it.
func (p *pool) serveInline(c *Conn) {
	w, _ := p.inline.Get().(*worker)
	if w == nil {
		w = &worker{p: p, inline: true}
	}
	w.serve(c)
	p.inline.Put(w)
}

// serve writes what c has queued; the worker owns c.
func (w *worker) serve(c *Conn) {
	for range maxRounds {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			if w.inline {
				// Ending runs the stream's end callbacks, which may take locks of the
				// goroutine that delivered: leave it to the connection's worker.
				w.p.worker(c).push(c)
				return
			}
			w.end(c)
			return
		}
		if len(c.q) == 0 {
			c.scheduled = false
			if cap(c.q) > 16 {
				c.q = nil // let a burst's queue go; an idle connection holds none
			}
			c.mu.Unlock()
			return
		}
		w.ents = append(w.ents[:0], c.q...)
		clear(c.q)
		c.q = c.q[:0]
		c.qBytes = 0
		c.mu.Unlock()
		if c.sink != nil {
			if !w.writeSink(c) {
				return // the sink owns c now
			}
			continue
		}
		if !w.write(c) {
			return // a flusher owns c now
		}
	}
	w.p.worker(c).push(c) // still owned (scheduled): back of its worker's queue, for fairness
}

// write encodes w.ents as one chunk and writes it without blocking. It reports false when
// the write would block and a flusher took c over.
func (w *worker) write(c *Conn) bool {
	now := time.Now()
	nowNs := now.UnixNano()
	b, lat, n := c.encode(append(w.buf[:0], chunkRoom...), w.lat[:0], w.ents, nowNs)
	w.lat = lat
	clear(w.ents)
	if cap(w.ents) > 4096 {
		w.ents = nil
	}
	if len(b) == chunkHead {
		return true
	}
	b = sealChunk(b)
	written, err := w.rw.write(c.sock.raw, b)
	if cap(b) <= 64<<10 {
		w.buf = b[:0]
	} else {
		w.buf = nil
	}
	c.bytes += int64(written)
	if err != nil {
		c.close(ReasonClientClosed)
		return true
	}
	wrote(c, nowNs, n, lat)
	if written < len(b) {
		// Never lose the tail: it is the only copy of these bytes.
		c.sock.pend = append([]byte(nil), b[written:]...)
		c.mu.Lock()
		c.flushing = true
		c.mu.Unlock()
		go w.p.flushPending(c)
		return false
	}
	return true
}

// flushPending writes c's pending tail with a blocking write under the write timeout, then
// hands c back to its worker. It runs in its own goroutine, only while a client is slow to
// read.
func (p *pool) flushPending(c *Conn) {
	s := c.sock
	now := time.Now()
	_ = s.nc.SetWriteDeadline(now.Add(p.h.opts.WriteTimeout))
	// Checked after setting the deadline: a close that raced with it either set its past
	// deadline after ours or is seen here.
	c.mu.Lock()
	abort := c.closed && c.reason != ReasonFinal
	c.mu.Unlock()
	if !abort {
		n, err := s.nc.Write(s.pend)
		c.bytes += int64(n)
		if err != nil {
			c.close(writeErrReason(err))
		} else {
			s.pend = nil
			c.lastWrite.Store(time.Now().UnixNano())
		}
	}
	c.mu.Lock()
	_ = s.nc.SetWriteDeadline(time.Time{})
	c.flushing = false
	p.worker(c).push(c) // still scheduled: the worker owns it next
	c.mu.Unlock()
}

// end finishes a closed pooled connection; the worker owns it and nobody else ever will.
func (w *worker) end(c *Conn) {
	c.mu.Lock()
	r := c.reason
	w.ents = append(w.ents[:0], c.q...)
	clear(c.q)
	c.q, c.qBytes = nil, 0
	c.mu.Unlock()
	if c.sink != nil {
		w.endSink(c, r)
		return
	}
	if graceful(r) && len(c.sock.pend) == 0 {
		b := w.buf[:0]
		if r != ReasonFinal && c.open > 0 {
			var n int
			b, w.lat, n = c.encode(append(b, chunkRoom...), w.lat[:0], w.ents, time.Now().UnixNano())
			if len(b) > chunkHead {
				b = sealChunk(b)
				c.evs += int64(n)
			} else {
				b = b[:0]
			}
		}
		b = append(b, chunkEnd...)
		n, _ := w.rw.write(c.sock.raw, b) // best effort: the socket is closed next in any case
		c.bytes += int64(n)
		w.buf = b[:0]
	}
	clear(w.ents)
	c.sock.pend = nil
	w.p.detachEnd(c, r)
}

// detachEnd closes a detached connection's socket and reports its end.
func (p *pool) detachEnd(c *Conn, r Reason) {
	p.poll.remove(c)
	closeSocket(c.sock.nc, r)
	c.finish(r)
	p.conns.Done()
}

// adopt counts c among the pool's connections, unless the pool is shutting down; then it
// reports false and c must be ended by the caller.
func (p *pool) adopt() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns.Add(1)
	return true
}

// takeOver makes the pool the driver of c, an adopted connection whose setup is done: from
// now on only the pool writes it. A close or frames that came during the setup schedule it.
func (p *pool) takeOver(c *Conn) {
	c.mu.Lock()
	if c.sock != nil {
		// The setup's deadlines must not fail the pool's non-blocking writes. Cleared under
		// c.mu: a close that already interrupted the setup (a past deadline) is seen below
		// and ends the stream through the pool, which may then write the terminator.
		_ = c.sock.nc.SetWriteDeadline(time.Time{})
	}
	c.stream = nil
	c.pooled = true
	c.done = nil // the setup was its last waiter; closeLocked skips a nil one
	if len(c.q) > 0 || c.closed {
		p.scheduleLocked(c)
	}
	c.mu.Unlock()
}

// CanDetach reports whether RunDetached can hand streams to the writer pool here (Linux,
// with epoll). It starts the pool on first use.
func (h *Hub) CanDetach() bool {
	h.poolOnce.Do(func() {
		p, err := newPool(h)
		if err != nil {
			h.log.Warn("writer pool unavailable; every stream keeps its own goroutine", "err", err)
			return
		}
		h.pool = p
	})
	return h.pool != nil
}

// RunDetached serves the stream on nc, a hijacked plain HTTP/1.1 connection, and takes
// ownership of nc. head is the HTTP response head, sent with the first bytes of the body;
// the body is chunked. The preamble and history are written here, in the caller's
// goroutine, with blocking writes. Then the connection is handed to the writer pool and
// RunDetached returns (r undefined, detached true): the pool ends the stream later, closes nc
// and reports the end to the observer. If the stream ends during the setup instead, it returns
// why, with detached false, nc closed. CanDetach must have reported true.
func (c *Conn) RunDetached(nc net.Conn, head []byte) (r Reason, detached bool) {
	st := &sockConn{chunkedStream: chunkedStream{nc: nc, head: head, bufs: &c.h.chunkBufs}}
	sc, ok := nc.(syscall.Conn)
	var err error
	if ok {
		st.raw, err = sc.SyscallConn()
	}
	if p := c.h.pool; p != nil && ok && err == nil {
		return p.runDetached(c, st)
	}
	r = c.Run(c.done, &st.chunkedStream)
	st.end(r)
	return r, false
}

// runDetached is RunDetached with the pool: the setup in the caller's goroutine, then the
// pool takes c over.
func (p *pool) runDetached(c *Conn, st *sockConn) (r Reason, detached bool) {
	h := p.h
	c.sock = st
	h.boundSendBuffer(st.nc)
	c.stream = st
	c.start = time.Now()
	h.obs.ConnOpened()
	// Watch for the peer's close from the start: after the hijack nothing else does.
	if err := p.poll.add(c); err != nil {
		h.log.Warn("poller add failed", "err", err)
		c.close(ReasonError)
	}
	r, live := c.setup(c.done)
	if live && p.adopt() {
		p.takeOver(c)
		return 0, true
	}
	if live {
		r = ReasonShutdown
	}
	p.poll.remove(c)
	c.finish(r)
	st.end(r)
	return r, false
}

// wrote accounts for a write of n events (lat: their latencies) that the owner of c made at
// nowNs, and closes c once every topic of the stream has ended (its final events are out).
func wrote(c *Conn, nowNs int64, n int, lat []int64) {
	c.lastWrite.Store(nowNs)
	if n > 0 {
		c.evs += int64(n)
		c.h.obs.Delivered(n, lat)
	}
	if c.open <= 0 {
		c.close(ReasonFinal)
	}
}
