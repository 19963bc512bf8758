package h2conn

// A stream: its windows and state, blocking writes for handlers, the request body pipe,
// and the detached form (Send, End) that Herald's writer pool drives without a goroutine.

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/net/http2"
)

// Stream is one HTTP/2 stream of a connection. Once detached (ResponseWriter.Detach) it is
// written by its owner: Write (blocking, for a setup in the handler's goroutine), then Send
// and End (never blocking). Its methods are safe for concurrent use.
type Stream struct {
	c  *conn
	id uint32

	// Guarded by c.mu.
	sendWindow int64
	recvWindow int64
	reset      bool  // reset by either side, or the connection is gone: nothing more is sent
	remoteDone bool  // the client ended its side (END_STREAM)
	peerReset  bool  // reset by the client and not yet answered: its next DATA or HEADERS gets STREAM_CLOSED
	declLen    int64 // the request's Content-Length, -1 if none
	bodyLen    int64 // request body bytes received
	endSent    bool
	body       *pipe
	cancel     context.CancelFunc
	wdeadline  time.Time

	detached    bool
	interrupted bool
	isBlocked   bool   // in c.blocked
	pending     []byte // detached: what Send kept
	resume      func()
	gone        func()
}

var (
	errInterrupted = errors.New("h2conn: stream interrupted")
)

// waitLocked waits on the connection's condition until something changes or deadline
// passes; it reports false when the deadline has passed.
func (c *conn) waitLocked(deadline time.Time) bool {
	if deadline.IsZero() {
		c.cond.Wait()
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	c.cond.Wait()
	t.Stop()
	return true
}

// writeBlocking writes p as DATA, waiting for window and room, and ends the stream with
// end. deadline zero means the stream's write deadline (SetWriteDeadline).
func (st *Stream) writeBlocking(p []byte, end bool, deadline time.Time) error {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case st.interrupted:
			return errInterrupted
		case st.reset:
			return errStreamReset
		case !c.writableLocked():
			return errConnClosed
		}
		n := c.writeDataLocked(st, p)
		p = p[n:]
		if len(p) == 0 {
			if end {
				c.endStreamLocked(st)
			}
			return nil
		}
		d := deadline
		if d.IsZero() {
			d = st.wdeadline
		}
		if !d.IsZero() && !time.Now().Before(d) {
			return os.ErrDeadlineExceeded
		}
		c.waitLocked(d)
	}
}

// Write writes p as DATA frames, waiting for the peer's windows, until deadline. It
// implements hub.Stream for a detached stream's setup.
func (st *Stream) Write(p []byte, deadline time.Time) error {
	return st.writeBlocking(p, false, deadline)
}

// Interrupt makes a blocked Write return; later Writes fail.
func (st *Stream) Interrupt() {
	c := st.c
	c.mu.Lock()
	st.interrupted = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Attach sets the callbacks of a detached stream: resume after a Send that kept bytes has
// sent them all, gone when the client reset the stream or the connection ended. If the
// client is already gone, gone is called at once.
func (st *Stream) Attach(resume, gone func()) {
	c := st.c
	c.mu.Lock()
	st.resume, st.gone = resume, gone
	already := st.reset
	c.mu.Unlock()
	if already {
		gone()
	}
}

// Send frames p as DATA as far as the windows allow, without blocking, and keeps the rest
// (copied) to send when the peer opens its window: it then reports false and later calls
// the resume callback. A stream whose client is gone drops p.
func (st *Stream) Send(p []byte) bool {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.reset || !c.writableLocked() {
		return true
	}
	n := c.writeDataLocked(st, p)
	if n == len(p) {
		return true
	}
	st.pending = append(st.pending, p[n:]...)
	if !st.isBlocked {
		st.isBlocked = true
		c.blocked = append(c.blocked, st)
	}
	return false
}

// End ends a detached stream: gracefully (tail, then END_STREAM) when graceful and the
// stream holds nothing unsent and tail fits the windows now, else with RST_STREAM.
func (st *Stream) End(tail []byte, graceful bool) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st.isBlocked = false // unblockLocked drops it from c.blocked
	if st.reset || !c.writableLocked() {
		c.removeLocked(st)
		return
	}
	if graceful && len(st.pending) == 0 && c.writeDataLocked(st, tail) == len(tail) {
		c.endStreamLocked(st)
		c.removeLocked(st)
		return
	}
	// A stream that cannot end cleanly (slow consumer, client gone, output lost) is reset;
	// its client resumes from its cursor.
	st.pending = nil
	st.reset = true
	_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeCancel)
	c.flushLocked()
	c.removeLocked(st)
}

// pipe is a request body: DATA frames the reader goroutine appends, read by the handler;
// what the handler reads is given back to the client as window.
type pipe struct {
	st        *Stream
	buf       []byte
	err       error // io.EOF once the client ended the body; a reset or a closed connection
	closed    bool  // the handler closed the body
	rdeadline time.Time
}

var errBodyClosed = errors.New("http: invalid Read on closed Body")

func (p *pipe) Read(b []byte) (int, error) {
	c := p.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil && !p.closed {
		if !p.rdeadline.IsZero() && !time.Now().Before(p.rdeadline) {
			return 0, os.ErrDeadlineExceeded
		}
		c.waitLocked(p.rdeadline)
	}
	if p.closed {
		return 0, errBodyClosed
	}
	if len(p.buf) == 0 {
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	c.creditLocked(p.st, int64(n))
	return n, nil
}

func (p *pipe) Close() error {
	c := p.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !p.closed {
		p.closed = true
		n := len(p.buf)
		p.buf = nil
		c.creditLocked(p.st, int64(n))
	}
	return nil
}

func (p *pipe) closeWithErrorLocked(err error) {
	if p.err == nil {
		p.err = err
	}
}
