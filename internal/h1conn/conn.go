package h1conn

// A lane connection: one goroutine reads a request head, serves the request through the
// handler in the same goroutine, answers, and goes on with the next request (keep-alive,
// pipelining) — or hands the connection to net/http at a request boundary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"syscall"
	"time"
)

// initialBufSize is a connection's read buffer to begin with; it grows for a long head up
// to MaxHeaderBytes.
const initialBufSize = 4 << 10

// maxPostHandlerReadBytes is how much of an unread request body is read and dropped after
// the handler to keep the connection; over that it closes (as net/http does).
const maxPostHandlerReadBytes = 256 << 10

type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	base   *http.Request // carries ctx; every request is a copy of it

	buf  []byte // buf[r:w] is read and not yet consumed
	r, w int

	idle   bool // waiting for a request (guarded by s.mu)
	linger bool // close with closeLingering: the client may still be sending a body

	hdr  http.Header // the response header, reused from request to request
	out  []byte      // the response being written
	head []byte      // the response header at WriteHeader, serialized
	body []byte      // response body bytes not yet written
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, nc.LocalAddr())
	if s.cfg.ConnContext != nil {
		ctx = s.cfg.ConnContext(ctx, nc)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &conn{s: s, nc: nc, remote: nc.RemoteAddr().String(), ctx: ctx, cancel: cancel,
		base: (&http.Request{}).WithContext(ctx), buf: make([]byte, initialBufSize), hdr: make(http.Header)}
}

// interrupt wakes a read blocked waiting for the next request (Shutdown); under s.mu.
func (c *conn) interrupt() { _ = c.nc.SetReadDeadline(aLongTimeAgo) }

// serve is the connection's goroutine.
func (c *conn) serve() {
	defer c.s.remove(c)
	defer c.cancel()
	for {
		h, err := c.readHead()
		if errors.Is(err, errHandoff) {
			c.handoff()
			return
		}
		if err != nil {
			_ = c.nc.Close()
			return
		}
		if !c.serveRequest(&h) {
			if c.linger {
				c.closeLingering()
				return
			}
			_ = c.nc.Close()
			return
		}
	}
}

// lingerTime is how long a connection closing with a request body unread keeps reading
// (and dropping) it, so that the client reads the answer rather than a reset (net/http's
// rstAvoidanceDelay).
const lingerTime = 500 * time.Millisecond

// closeLingering closes a connection whose client may still be sending a body nobody will
// read: the write side first, then what comes is read and dropped until the client closes
// too or lingerTime passed.
func (c *conn) closeLingering() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, c.nc)
	_ = c.nc.Close()
}

// errHandoff: the next request is not the lane's; net/http gets the connection.
var errHandoff = errors.New("h1conn: request for net/http")

// readHead waits for the next request and reads its head: the idle timeout until its
// first byte, the header timeout from there.
func (c *conn) readHead() (head, error) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		// The deadline before the idle mark: Shutdown's interrupt, after the mark, wins.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if !c.s.setIdle(c, true) {
			return head{}, errors.New("h1conn: shutting down")
		}
		err := c.fill()
		if !c.s.setIdle(c, false) {
			return head{}, errors.New("h1conn: shutting down")
		}
		if err != nil {
			return head{}, fmt.Errorf("h1conn: wait for a request: %w", err)
		}
	}
	deadlineSet := false
	for {
		n := headEnd(c.buf[c.r:c.w])
		if n == bareLF || n > c.s.cfg.MaxHeaderBytes || n < 0 && c.w-c.r > c.s.cfg.MaxHeaderBytes {
			return head{}, errHandoff // net/http takes it (or answers 431)
		}
		if n > 0 {
			break
		}
		if !deadlineSet {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ReadHeaderTimeout))
			deadlineSet = true
		}
		if err := c.fill(); err != nil {
			return head{}, fmt.Errorf("h1conn: read request head: %w", err)
		}
	}
	h, ok := parseHead(c.buf[c.r:c.w], c.s.cfg.Path, c.s.cfg.MaxBodyBytes)
	if !ok {
		return head{}, errHandoff
	}
	return h, nil
}

// fill reads more bytes into the buffer, making room (or growing it) first.
func (c *conn) fill() error {
	if c.w == len(c.buf) {
		if c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		} else {
			nb := make([]byte, min(2*len(c.buf), c.s.cfg.MaxHeaderBytes+initialBufSize))
			if len(nb) <= len(c.buf) {
				return errors.New("h1conn: buffer full")
			}
			copy(nb, c.buf[:c.w])
			c.buf = nb
		}
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// handoff gives the connection, with the bytes read and not served, to net/http.
func (c *conn) handoff() {
	c.s.cfg.Logger.Debug("http/1.1 lane: connection handed to net/http", "remote", c.remote)
	_ = c.nc.SetReadDeadline(time.Time{})
	var pending []byte
	if c.r < c.w {
		pending = append([]byte(nil), c.buf[c.r:c.w]...)
	}
	c.s.forget(c) // net/http's now: Shutdown and Close leave it alone
	c.s.cfg.Handoff(&ReplayConn{Conn: c.nc, pending: pending})
}

// exchange is one request and its answer: allocated together.
type exchange struct {
	req  http.Request
	url  url.URL
	body body
	rw   response
}

// serveRequest serves the request whose head is h through the handler, and answers. It
// reports whether the connection may serve another request.
func (c *conn) serveRequest(h *head) bool {
	ex := &exchange{}
	ex.url = url.URL{Path: c.s.cfg.Path, RawQuery: h.query, ForceQuery: h.force}
	ex.req = *c.base
	req := &ex.req
	req.Method = http.MethodPost
	req.URL = &ex.url
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	req.Header = h.header
	req.Host = h.host
	req.RemoteAddr = c.remote
	req.RequestURI = h.uri
	req.Close = h.close
	req.ContentLength = h.clen
	c.r += h.headLen
	ex.body = body{c: c, remain: h.clen}
	if h.clen == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = &ex.body
	}
	rw := &ex.rw
	rw.init(c, req)
	ok := c.runHandler(rw, req)
	if ok {
		ok = rw.finish()
	}
	if ok && !ex.body.drain() {
		ok = false
	}
	if rw.wdeadline {
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
	clear(c.hdr)
	return ok && !rw.closeAfter
}

// runHandler calls the handler; a panic closes the connection (logged unless it is
// http.ErrAbortHandler), as net/http does.
func (c *conn) runHandler(rw *response, req *http.Request) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			ok = false
			if e != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.cfg.Logger.Error("http: panic serving request", "remote", c.remote, "err", fmt.Sprint(e),
					"stack", string(buf))
			}
		}
	}()
	c.s.cfg.Handler.ServeHTTP(rw, req)
	return true
}

// body is a request body of known length: the buffered bytes first, then the socket.
type body struct {
	c        *conn
	remain   int64
	deadline time.Time // applied when the socket must be read; zero: BodyTimeout from then
	dlSet    bool
	closed   bool
	err      error
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	c := b.c
	var n int
	if c.r < c.w {
		n = copy(p, c.buf[c.r:c.w])
		c.r += n
	} else {
		if !b.dlSet {
			if b.deadline.IsZero() {
				b.deadline = time.Now().Add(c.s.cfg.BodyTimeout)
			}
			_ = c.nc.SetReadDeadline(b.deadline)
			b.dlSet = true
		}
		var err error
		n, err = c.nc.Read(p)
		if n == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
			return 0, err
		}
	}
	b.remain -= int64(n)
	if b.remain == 0 {
		return n, io.EOF
	}
	return n, nil
}

// Close implements io.Closer: later reads fail; the rest is dropped after the handler.
func (b *body) Close() error {
	b.closed = true
	return nil
}

// setDeadline sets the body's read deadline (http.ResponseController.SetReadDeadline).
func (b *body) setDeadline(t time.Time) {
	b.deadline = t
	if b.dlSet || b.c.r == b.c.w {
		_ = b.c.nc.SetReadDeadline(t)
		b.dlSet = true
	}
}

// drain drops what the handler left of the body, so that the next request can be read;
// it reports false when the connection must close instead.
func (b *body) drain() bool {
	if b.err != nil {
		return false
	}
	if b.remain == 0 {
		return true
	}
	if b.remain > maxPostHandlerReadBytes {
		return false
	}
	closed := b.closed
	b.closed = false
	_, err := io.Copy(io.Discard, b)
	b.closed = closed
	return err == nil
}

// ReplayConn is a connection handed to net/http: its reads return the bytes the lane read
// and did not serve first, then the socket's.
type ReplayConn struct {
	net.Conn
	pending []byte
}

// Read implements net.Conn.
func (rc *ReplayConn) Read(p []byte) (int, error) {
	if len(rc.pending) > 0 {
		n := copy(p, rc.pending)
		rc.pending = rc.pending[n:]
		return n, nil
	}
	return rc.Conn.Read(p)
}

// NetConn returns the underlying connection (as tls.Conn.NetConn does), so that socket
// options reach the TCP connection.
func (rc *ReplayConn) NetConn() net.Conn { return rc.Conn }

// SyscallConn returns the underlying connection's raw connection, so that a stream hijacked
// from a handed-off connection is detached to the hub's writer pool like any other: the pool
// writes to the socket and its poller sees the client leave. (Without it the hub would keep
// the stream on a writer goroutine that notices a closed client only at its next write.)
// Bytes still pending here are not the stream's: a hijacked GET has nothing more to read.
func (rc *ReplayConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := rc.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("h1conn: the handed-off connection has no file descriptor")
	}
	return sc.SyscallConn()
}
