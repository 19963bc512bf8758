package hub

// The goroutine writer: a stream served in its own HTTP handler goroutine (HTTP/2, TLS,
// systems without the writer pool, --no-hijack). A writer loop woken by the queue swaps it
// out, encodes it into one buffer and writes it with one write and flush under a deadline.

import (
	"errors"
	"os"
	"time"
)

// Stream is where a connection's bytes go: the HTTP response body.
type Stream interface {
	// Write writes p to the client and flushes it, giving up at deadline.
	Write(p []byte, deadline time.Time) error
	// Interrupt makes a Write that is blocked (a client that does not read) return soon.
	// It may be called from any goroutine.
	Interrupt()
}

// Run serves the stream: the preamble, the wait for the engine, history replay from the
// cursor, then live frames until the client leaves, the stream's topics all end, its
// lifetime passes or the node drains. It returns why the stream ended. ctxDone is closed when
// the client goes away.
func (c *Conn) Run(ctxDone <-chan struct{}, st Stream) Reason {
	c.wake = make(chan struct{}, 1) // before setup registers the connection on its topics
	c.gw = &goWriter{}
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

// goWriter is the state of a stream served by its own writer goroutine: its buffers, kept
// between writes. (The signal that wakes it, Conn.wake, stays in Conn: fan-out rings it.)
type goWriter struct {
	wbuf []byte
	wq   []entry // the queue's other slice; take swaps them
	lat  []int64
}

// take swaps the queue out for the writer.
func (c *Conn) take() []entry {
	g := c.gw
	c.mu.Lock()
	c.q, g.wq = g.wq[:0], c.q
	c.qBytes = 0
	c.mu.Unlock()
	return g.wq
}

// flush writes everything queued in one write.
func (c *Conn) flush() error {
	q := c.take()
	if len(q) == 0 {
		return nil
	}
	g := c.gw
	now := time.Now()
	b, lat, n := c.encode(g.wbuf[:0], g.lat[:0], q, now.UnixNano())
	g.lat = lat
	clear(q)
	if cap(g.wq) > 256 {
		g.wq = nil
	}
	err := c.write(b, now)
	if cap(b) > 64<<10 {
		b = nil
	}
	g.wbuf = b
	if err != nil {
		return err
	}
	if n > 0 {
		c.evs += int64(n)
		c.h.obs.Delivered(n, g.lat)
	}
	return nil
}

func (c *Conn) write(b []byte, now time.Time) error {
	if len(b) == 0 {
		return nil
	}
	err := c.stream.Write(b, now.Add(c.h.opts.WriteTimeout))
	if err != nil {
		return err
	}
	c.bytes += int64(len(b))
	c.lastWrite.Store(now.UnixNano())
	return nil
}

// serveLive writes queued frames until the stream ends, and returns why it ended.
func (c *Conn) serveLive(done <-chan struct{}) Reason {
	for {
		select {
		case <-c.wake:
		case <-c.done:
		case <-done:
			c.close(ReasonClientClosed)
		}
		if r, closed := c.closeReason(); closed {
			if r == ReasonLifetime || r == ReasonShutdown {
				_ = c.flush() // best effort: hand over what is queued before the client reconnects
			}
			return r
		}
		if err := c.flush(); err != nil {
			r := writeErrReason(err)
			c.close(r)
			return r
		}
		if c.open <= 0 {
			c.close(ReasonFinal)
			return ReasonFinal
		}
	}
}

// writeErrReason classifies a failed write: a deadline means the client stopped reading.
func writeErrReason(err error) Reason {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ReasonSlowConsumer
	}
	return ReasonClientClosed
}
