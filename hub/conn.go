package hub

// The connection and its queue: one SSE stream, its topics and positions, and the bounded
// queue that fan-out appends shared frames to without ever blocking.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// entry is one queued frame and the index of its topic in the connection (-1: none).
type entry struct {
	f   *frame
	idx int32
}

var connIDs atomic.Uint64

// Conn is one SSE stream: its topics, its position in each, and its queue of frames.
//
// Its shape follows a stream's life. What only the setup needs (the client's cursor and
// replay options, the catch-up waits, the setup's buffer) sits in setupState, dropped once the
// stream is live. What only one writer mode needs sits behind that mode's pointer: gw for a
// stream with its own writer goroutine (writer_goroutine.go), sock for a hijacked socket the
// writer pool writes (pool.go), sink for a FrameSink the pool writes (sink.go). What every
// live stream needs, and the fields fan-out touches, stay here.
type Conn struct {
	h      *Hub
	id     uint64
	tops   []*topic
	subs   []sub
	topics []herald.Topic // Request.Topics, in canonical order
	user   string         // Request.User

	// Written by the stream's writer only (the setup, then its goroutine or pool owner).
	pos   []herald.Position
	open  int32 // topics not yet closed by a final event
	bytes int64
	evs   int64

	wslot int32 // housekeeping wheel slot and index in it; guarded by the conn shard's mutex
	widx  int32

	start     time.Time
	deadline  int64 // Unix nanoseconds, 0 = no max lifetime
	lastWrite atomic.Int64

	onEnd func() // called once when the stream ends (OnEnd)
	// done is closed when the stream closes, for whoever waits on it: the setup and the
	// goroutine writer. Guarded by mu: a pooled stream drops it once its setup is over
	// (pool.takeOver), since nothing waits on it after that (96 bytes less per idle stream).
	done chan struct{}
	wake chan struct{} // goroutine mode only (made by Run): the writer's signal, rung by fan-out

	// stream is where the setup writes (every mode) and the goroutine writer writes; nil
	// once the pool drives the connection.
	stream Stream
	st     *setupState // until the stream is live (or ends in its setup)

	// Writer modes: at most one is set.
	gw   *goWriter // its own writer goroutine (Run)
	sock *sockConn // pooled: a hijacked socket (RunDetached)
	sink *sinkConn // pooled: a FrameSink (RunSink)

	mu        sync.Mutex // guards the fields below
	q         []entry
	qBytes    int
	closed    bool
	reason    Reason
	pooled    bool // the writer pool drives the connection (no goroutine of its own)
	scheduled bool // pooled: an owner (a run queue, a worker or a flusher) holds it
	flushing  bool // pooled: a flusher goroutine (or the sink) owns it and may block in a write
	joined    bool // the presence tracker was told of this stream (not guarded: setup and finish only)
}

// setupState is what a stream needs only until it is live: the parts of its Request that
// decide its replay, the catch-up waits and the buffer its preamble and history are encoded
// in. A goroutine-mode stream keeps the buffer (goWriter.wbuf); the rest is dropped.
type setupState struct {
	cursor      herald.Cursor
	cursorError ResetReason
	earliest    bool
	replay      []bool
	deadline    time.Time          // Request.Deadline
	since       int64              // engine time from which a stream without cursor replays (plan.since)
	catchUp     []<-chan struct{}  // per topic: the node's catch-up to an ahead cursor (awaitTopics)
	catchUp1    [1]<-chan struct{} // catchUp's array for a one-topic stream
	buf         []byte
}

// enqueue appends a frame without ever blocking; a connection whose queue would exceed its
// bound is closed as a slow consumer instead.
func (c *Conn) enqueue(f *frame, idx int32) { c.push(f, idx, false) }

// push is enqueue. With claim, a pooled connection that nobody owns is not handed to its
// worker: push takes ownership for the caller and reports true, and the caller must serve
// it (pool.serveInline) — after releasing its own locks.
func (c *Conn) push(f *frame, idx int32, claim bool) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if c.qBytes+len(f.buf) > c.h.opts.MaxQueueBytes {
		c.closeLocked(ReasonSlowConsumer)
		c.mu.Unlock()
		return false
	}
	c.q = append(c.q, entry{f, idx})
	c.qBytes += len(f.buf)
	if c.pooled {
		if claim && !c.scheduled {
			c.scheduled = true
			c.mu.Unlock()
			return true
		}
		c.h.pool.scheduleLocked(c)
		c.mu.Unlock()
		return false
	}
	first := len(c.q) == 1
	c.mu.Unlock()
	if first && c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return false
}

// close ends the stream with reason; the first reason wins.
func (c *Conn) close(r Reason) {
	c.mu.Lock()
	c.closeLocked(r)
	c.mu.Unlock()
}

func (c *Conn) closeLocked(r Reason) {
	if c.closed {
		return
	}
	c.closed = true
	c.reason = r
	if r == ReasonSlowConsumer || r == ReasonClientClosed || r == ReasonError {
		clear(c.q)
		c.q = nil
		c.qBytes = 0
	}
	if c.done != nil {
		close(c.done)
	}
	if c.pooled {
		c.h.pool.closedLocked(c, r)
		return
	}
	if c.stream != nil && r != ReasonFinal {
		if a, ok := c.stream.(Aborter); ok && r == ReasonSlowConsumer {
			a.Abort()
		}
		c.stream.Interrupt()
	}
}

// aLongTimeAgo is a deadline in the past: it makes a blocked write return at once.
var aLongTimeAgo = time.Unix(1, 0)

func (c *Conn) closeReason() (Reason, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason, c.closed
}

// encode appends the frames of q to b, advancing the connection's positions, and appends
// each event's latency to lat. It reports how many events it wrote and stops after the final
// event of the last open topic.
func (c *Conn) encode(b []byte, lat []int64, q []entry, now int64) ([]byte, []int64, int) {
	n := 0
	for _, e := range q {
		f := e.f
		if f.kind == kindHeartbeat {
			b = append(b, f.buf...)
			continue
		}
		c.pos[e.idx] = f.pos
		if len(c.pos) == 1 {
			b = append(b, f.buf...)
		} else {
			b = c.appendID(b)
			b = append(b, f.buf[f.bodyOff:]...)
		}
		if f.kind == kindEvent {
			n++
			lat = append(lat, now-f.origin)
			if f.final {
				c.open--
				if c.open <= 0 {
					break
				}
			}
		}
	}
	return b, lat, n
}

// appendID appends the stream's "id:" line for its current positions: a single topic's own
// position, or the composite cursor of several.
func (c *Conn) appendID(b []byte) []byte {
	if len(c.pos) == 1 {
		return appendPositionID(b, c.pos[0])
	}
	b = herald.AppendCursor(sse.AppendIDPrefix(b), c.pos)
	return append(b, '\n')
}
