package h2conn

// One HTTP/2 connection: the reader goroutine (preface, SETTINGS, PING, GOAWAY,
// WINDOW_UPDATE, RST_STREAM, HEADERS, DATA), the stream table and the peer's settings.
//
// Limits against a misbehaving peer, all cheap counters:
//   - streams: at most MaxConcurrentStreams in the table; a stream leaves it when its
//     handler returned (or its detached stream ended), so a client that resets streams
//     cannot run more handlers than that. HEADERS over the bound get REFUSED_STREAM.
//   - rapid reset: streams reset by the client or refused, counted per second; over
//     MaxResetsPerSecond the connection ends with GOAWAY ENHANCE_YOUR_CALM.
//   - headers: the Framer decodes at most MaxHeaderListSize (431 beyond) and closes the
//     connection on a header block far over it (CONTINUATION flood).
//   - PING and SETTINGS: at most MaxControlPerSecond per second, else ENHANCE_YOUR_CALM.
//   - output: a peer that does not read its socket holds at most maxOutHard bytes of control
//     frames before the connection is closed; data waits for room under maxOut (detached streams report
//     blocked, handlers wait) and the write timeout ends a connection that never drains.
//   - request bodies: each stream may send its window (initialWindow) before the handler
//     reads; the connection's window is initialConnWindow.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	prefaceLen        = len(http2.ClientPreface)
	initialWindow     = 256 << 10 // advertised per-stream receive window
	initialConnWindow = 1 << 20   // connection receive window
	maxOut            = 256 << 10 // output that counts as full: data waits beyond it
	maxOutHard        = 4 << 20   // output (control frames of a peer that does not read) that ends the connection
	maxFrameSize      = 16 << 10  // the frame size we read (the default)
	headerTableSize   = 4096      // our HPACK decoder's table
)

// conn is one HTTP/2 connection.
type conn struct {
	srv *Server
	nc  net.Conn
	fr  *http2.Framer // reads in the reader goroutine, writes under mu
	ctx context.Context
	cxl context.CancelFunc

	remote string
	local  net.Addr

	// Reader goroutine only.
	resets    int
	resetsAt  time.Time
	control   int
	controlAt time.Time
	rd        *bufio.Reader

	mu         sync.Mutex
	cond       sync.Cond // on mu: output drained, windows opened, streams ended, deadlines
	out        []byte    // frames waiting for the writer
	spare      []byte
	enc        *hpack.Encoder
	encBuf     hdrBuf
	closed     bool  // torn down: no more frames
	dead       error // the socket failed
	goneAway   bool  // GOAWAY sent: no new streams
	streams    map[uint32]*Stream
	maxID      uint32 // the highest client stream id seen
	sendWindow int64  // connection send window
	peerWindow int32  // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame  uint32 // the peer's SETTINGS_MAX_FRAME_SIZE
	blocked    []*Stream
	recvConn   int64 // connection receive window left

	wdone chan struct{} // closed when the writer goroutine has ended
}

// hdrBuf collects one header block for the encoder.
type hdrBuf struct{ b []byte }

func (h *hdrBuf) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }

// outWriter appends the Framer's frames to the connection's output; called under mu.
type outWriter struct{ c *conn }

func (w outWriter) Write(p []byte) (int, error) {
	if w.c.dead == nil {
		w.c.out = append(w.c.out, p...)
	}
	return len(p), nil
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:        s,
		nc:         nc,
		remote:     nc.RemoteAddr().String(),
		local:      nc.LocalAddr(),
		streams:    make(map[uint32]*Stream),
		sendWindow: 65535,
		peerWindow: 65535,
		peerFrame:  16384,
		recvConn:   initialConnWindow,
		wdone:      make(chan struct{}),
	}
	c.cond.L = &c.mu
	// A TLS connection buffers its records already: a larger buffer would only copy.
	rdSize := 4 << 10
	if _, ok := nc.(*tls.Conn); ok {
		rdSize = 16
	}
	c.rd = bufio.NewReaderSize(nc, rdSize)
	c.fr = http2.NewFramer(outWriter{c}, c.rd)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.fr.MaxHeaderListSize = s.cfg.MaxHeaderListSize
	c.fr.ReadMetaHeaders = hpack.NewDecoder(headerTableSize, nil)
	c.enc = hpack.NewEncoder(&c.encBuf)
	// Response headers are encoded as literals: no dynamic table to keep per connection.
	c.enc.SetMaxDynamicTableSizeLimit(0)
	ctx := context.Background()
	if s.cfg.ConnContext != nil {
		ctx = s.cfg.ConnContext(ctx, nc)
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.local)
	c.ctx, c.cxl = context.WithCancel(ctx)
	return c
}

// connError ends the connection with a GOAWAY carrying code.
type connError struct {
	code http2.ErrCode
	why  string
}

func (e connError) Error() string { return fmt.Sprintf("h2conn: %s (%v)", e.why, e.code) }

// serve is the reader goroutine.
func (c *conn) serve() {
	defer c.srv.wg.Done()
	err := c.readLoop()
	var ce connError
	var h2ce http2.ConnectionError
	linger := true
	switch {
	case errors.As(err, &ce):
		c.srv.cfg.Logger.Debug("http2 connection error", "remote", c.remote, "err", err)
		c.sendGoAway(ce.code)
	case errors.As(err, &h2ce):
		c.srv.cfg.Logger.Debug("http2 connection error", "remote", c.remote, "err", err)
		c.sendGoAway(http2.ErrCode(h2ce))
	default:
		linger = false
	}
	c.teardown(linger)
}

func (c *conn) readLoop() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.PrefaceTimeout))
	var pre [prefaceLen]byte
	// The preface is read through the Framer's reader (which buffers the socket).
	if _, err := io.ReadFull(frReader{c}, pre[:]); err != nil || string(pre[:]) != http2.ClientPreface {
		return errors.New("h2conn: no client preface")
	}
	c.mu.Lock()
	_ = c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.srv.cfg.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: headerTableSize},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: initialWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: maxFrameSize},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.srv.cfg.MaxHeaderListSize},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
	)
	_ = c.fr.WriteWindowUpdate(0, initialConnWindow-65535)
	c.flushLocked()
	c.mu.Unlock()

	first := true
	for {
		// Deadlines are set under mu, where removeLocked and goAway set theirs.
		c.mu.Lock()
		idle := len(c.streams) == 0
		switch {
		case c.goneAway && idle:
			c.mu.Unlock()
			return nil // drained: the last stream ended after GOAWAY
		case first:
		case idle:
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		default:
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		c.mu.Unlock()
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, http2.ErrFrameTooLarge) {
				// Over our SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2).
				return connError{http2.ErrCodeFrameSize, "frame too large"}
			}
			var se http2.StreamError
			if errors.As(err, &se) {
				// Mostly a malformed request's HEADERS: its stream was opened (and is now
				// closed), so the client's frames in flight on it are not on an idle stream.
				c.mu.Lock()
				if se.StreamID%2 == 1 && se.StreamID > c.maxID {
					c.maxID = se.StreamID
				}
				c.mu.Unlock()
				c.resetStream(se.StreamID, se.Code)
				if err := c.countReset(); err != nil {
					return err
				}
				continue
			}
			var ne net.Error
			if !first && errors.As(err, &ne) && ne.Timeout() {
				c.mu.Lock()
				drained := c.goneAway
				c.mu.Unlock()
				if drained {
					return nil // the last stream ended after GOAWAY
				}
				return connError{http2.ErrCodeNo, "idle timeout"} // GOAWAY, then close
			}
			return err
		}
		if first {
			if _, ok := f.(*http2.SettingsFrame); !ok {
				return connError{http2.ErrCodeProtocol, "first frame is not SETTINGS"}
			}
			first = false
		}
		if err := c.handle(f); err != nil {
			return err
		}
	}
}

// frReader reads the preface from the same buffered reader the Framer reads from.
type frReader struct{ c *conn }

func (r frReader) Read(p []byte) (int, error) { return r.c.rd.Read(p) }

func (c *conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if err := c.countControl(); err != nil {
			return err
		}
		c.mu.Lock()
		_ = c.fr.WritePing(true, f.Data)
		err := c.flushControlLocked()
		c.mu.Unlock()
		return err
	case *http2.GoAwayFrame:
		// The client sends no new streams; the open ones go on until they end.
		return nil
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		c.mu.Lock()
		idle := c.idleLocked(f.StreamID)
		c.mu.Unlock()
		if idle {
			return connError{http2.ErrCodeProtocol, "RST_STREAM on an idle stream"}
		}
		c.onReset(f.StreamID, true)
		return c.countReset()
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.PriorityFrame:
		// Priorities are not used; a stream cannot depend on itself (RFC 9113 §5.3.1).
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol)
			return c.countReset()
		}
		return nil
	case *http2.PushPromiseFrame:
		return connError{http2.ErrCodeProtocol, "PUSH_PROMISE from a client"}
	default:
		return nil // unknown frames are ignored
	}
}

func (c *conn) countReset() error {
	now := time.Now()
	if now.Sub(c.resetsAt) > time.Second {
		c.resetsAt, c.resets = now, 0
	}
	c.resets++
	if c.resets > c.srv.cfg.MaxResetsPerSecond {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many stream resets"}
	}
	return nil
}

func (c *conn) countControl() error {
	now := time.Now()
	if now.Sub(c.controlAt) > time.Second {
		c.controlAt, c.control = now, 0
	}
	c.control++
	if c.control > c.srv.cfg.MaxControlPerSecond {
		return connError{http2.ErrCodeEnhanceYourCalm, "too many PING/SETTINGS frames"}
	}
	return nil
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := c.countControl(); err != nil {
		return err
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	var resumes []func()
	c.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(c.peerWindow)
			c.peerWindow = int32(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > 1<<31-1 {
					return connError{http2.ErrCodeFlowControl, "stream window overflow"}
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(0)
		}
		return nil
	})
	if err == nil {
		_ = c.fr.WriteSettingsAck()
		err = c.flushControlLocked()
		resumes = c.unblockLocked()
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	runAll(resumes)
	return err
}

// idleLocked reports whether stream id is idle: never opened by the client (the engine
// opens no streams itself, so every even id is idle).
func (c *conn) idleLocked(id uint32) bool { return id%2 == 0 || id > c.maxID }

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	if f.StreamID != 0 && c.idleLocked(f.StreamID) {
		c.mu.Unlock()
		return connError{http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream"}
	}
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > 1<<31-1 {
			c.mu.Unlock()
			return connError{http2.ErrCodeFlowControl, "connection window overflow"}
		}
	} else if st := c.streams[f.StreamID]; st != nil {
		st.sendWindow += int64(f.Increment)
		if st.sendWindow > 1<<31-1 {
			c.mu.Unlock()
			c.resetStream(f.StreamID, http2.ErrCodeFlowControl)
			return nil
		}
	}
	resumes := c.unblockLocked()
	c.cond.Broadcast()
	c.mu.Unlock()
	runAll(resumes)
	return nil
}

// onReset forgets stream id after a RST_STREAM: the client's (peer) or ours.
func (c *conn) onReset(id uint32, peer bool) {
	c.mu.Lock()
	st := c.streams[id]
	var gone func()
	var cancel context.CancelFunc
	if st != nil {
		cancel = st.cancel // read under mu: release clears it
	}
	if st != nil && !st.reset {
		st.reset = true
		st.peerReset = peer
		st.pending = nil
		gone = st.gone
		if st.detached {
			c.removeLocked(st)
		}
		if st.body != nil {
			st.body.closeWithErrorLocked(errStreamReset)
		}
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if gone != nil {
		gone()
	}
}

// resetStream sends RST_STREAM for id and forgets the stream as if the client reset it.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	if !c.closed {
		_ = c.fr.WriteRSTStream(id, code)
		c.flushLocked()
	}
	c.mu.Unlock()
	c.onReset(id, false)
}

// streamClosed answers a DATA or HEADERS frame on a closed stream with RST_STREAM
// STREAM_CLOSED (RFC 9113 §5.1). Not counted as a reset — a client's frames in flight when
// its stream ended are normal — but the answers the client provokes without reading its
// socket are bounded like the other control frames.
func (c *conn) streamClosed(id uint32) error {
	c.mu.Lock()
	var err error
	if !c.closed {
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeStreamClosed)
		err = c.flushControlLocked()
	}
	c.mu.Unlock()
	c.onReset(id, false)
	return err
}

func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return connError{http2.ErrCodeProtocol, "even stream id from a client"}
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		switch {
		case st.remoteDone && st.endSent && !st.reset:
			// Closed both ways, only not yet out of the table: as below for a closed stream.
			c.mu.Unlock()
			return connError{http2.ErrCodeStreamClosed, "HEADERS on a closed stream"}
		case st.peerReset || (st.remoteDone && !st.reset):
			// Reset by the client, or half-closed (remote): STREAM_CLOSED (RFC 9113 §5.1).
			st.peerReset = false
			c.mu.Unlock()
			if err := c.streamClosed(id); err != nil {
				return err
			}
			return c.countReset()
		case st.reset:
			c.mu.Unlock()
			return nil // we reset it: the client's frames in flight are dropped
		case !f.StreamEnded():
			c.mu.Unlock()
			return connError{http2.ErrCodeProtocol, "HEADERS without END_STREAM on an open stream"}
		}
		// Trailers: they end the request body.
		if st.declLen >= 0 && st.bodyLen != st.declLen {
			c.mu.Unlock()
			c.resetStream(id, http2.ErrCodeProtocol) // body shorter than its Content-Length
			return c.countReset()
		}
		if st.body != nil {
			st.body.closeWithErrorLocked(io.EOF)
			c.cond.Broadcast()
		}
		st.remoteDone = true
		c.mu.Unlock()
		return nil
	}
	if id <= c.maxID {
		// A closed stream that left the table (RFC 9113 §5.1, §5.1.1).
		c.mu.Unlock()
		return connError{http2.ErrCodeStreamClosed, "HEADERS on a closed stream"}
	}
	c.maxID = id
	if f.HasPriority() && f.Priority.StreamDep == id {
		// A stream cannot depend on itself (RFC 9113 §5.3.1).
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeProtocol)
		c.flushLocked()
		c.mu.Unlock()
		return c.countReset()
	}
	if c.goneAway || c.closed {
		c.mu.Unlock()
		return nil // after GOAWAY: ignored, the client retries elsewhere
	}
	if uint32(len(c.streams)) >= c.srv.cfg.MaxConcurrentStreams {
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		c.flushLocked()
		c.mu.Unlock()
		return c.countReset()
	}
	st := &Stream{c: c, id: id, sendWindow: int64(c.peerWindow), declLen: -1}
	c.streams[id] = st
	if f.Truncated {
		// Over MaxHeaderListSize: 431, as net/http answers.
		c.writeHeadersLocked(id, http.StatusRequestHeaderFieldsTooLarge, nil, true)
		c.removeLocked(st)
		c.mu.Unlock()
		return nil
	}
	req, err := c.newRequest(st, f)
	if err != nil {
		c.removeLocked(st)
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeProtocol)
		c.flushLocked()
		c.mu.Unlock()
		return c.countReset()
	}
	c.srv.wg.Add(1)
	c.mu.Unlock()
	go c.runHandler(st, req)
	return nil
}

func (c *conn) onData(f *http2.DataFrame) error {
	n := int64(f.Length)
	data := f.Data()
	c.mu.Lock()
	if n > c.recvConn {
		c.mu.Unlock()
		return connError{http2.ErrCodeFlowControl, "connection receive window exceeded"}
	}
	c.recvConn -= n
	st := c.streams[f.StreamID]
	if st == nil || st.reset || st.remoteDone {
		// Not open: give the connection window back.
		c.creditLocked(nil, n)
		if c.idleLocked(f.StreamID) {
			c.mu.Unlock()
			return connError{http2.ErrCodeProtocol, "DATA on an idle stream"}
		}
		answer := st == nil || st.peerReset || !st.reset
		if st != nil {
			st.peerReset = false
		}
		c.mu.Unlock()
		if answer {
			// Closed, reset by the client or half-closed (remote): STREAM_CLOSED (RFC 9113
			// §5.1). A stream we reset already had its RST_STREAM.
			return c.streamClosed(f.StreamID)
		}
		return nil
	}
	if n > st.recvWindow {
		c.creditLocked(nil, n)
		c.mu.Unlock()
		c.resetStream(f.StreamID, http2.ErrCodeFlowControl)
		return nil
	}
	st.recvWindow -= n
	st.bodyLen += int64(len(data))
	if st.declLen >= 0 && (st.bodyLen > st.declLen || f.StreamEnded() && st.bodyLen != st.declLen) {
		// A body longer or shorter than its Content-Length is malformed (RFC 9113 §8.1.1).
		c.creditLocked(nil, n)
		c.mu.Unlock()
		c.resetStream(f.StreamID, http2.ErrCodeProtocol)
		return c.countReset()
	}
	pad := n - int64(len(data))
	if st.body != nil && !st.body.closed {
		st.body.buf = append(st.body.buf, data...)
		if pad > 0 {
			c.creditLocked(st, pad)
		}
	} else {
		c.creditLocked(st, n) // nobody reads: give it all back at once
	}
	if f.StreamEnded() {
		st.remoteDone = true
		if st.body != nil {
			st.body.closeWithErrorLocked(io.EOF)
		}
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// creditLocked gives n bytes of receive window back, to the connection and (if st is
// not nil and still receiving) to the stream.
func (c *conn) creditLocked(st *Stream, n int64) {
	if n <= 0 || c.closed {
		return
	}
	c.recvConn += n
	_ = c.fr.WriteWindowUpdate(0, uint32(n))
	if st != nil && !st.remoteDone && !st.reset {
		st.recvWindow += n
		_ = c.fr.WriteWindowUpdate(st.id, uint32(n))
	}
	c.flushLocked()
}

// removeLocked takes st out of the table; the connection ends when it was the last stream
// after GOAWAY.
func (c *conn) removeLocked(st *Stream) {
	if c.streams[st.id] != st {
		return
	}
	delete(c.streams, st.id)
	if len(c.streams) == 0 {
		if c.goneAway {
			_ = c.nc.SetReadDeadline(aLongTimeAgo) // the reader ends the connection
		} else {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		}
	}
	c.cond.Broadcast()
}

var aLongTimeAgo = time.Unix(1, 0)

// goAway sends GOAWAY (drain): no new streams; the connection closes when the last ends.
func (c *conn) goAway() {
	c.mu.Lock()
	if !c.goneAway && !c.closed {
		c.goneAway = true
		_ = c.fr.WriteGoAway(c.maxID, http2.ErrCodeNo, nil)
		c.flushLocked()
		if len(c.streams) == 0 {
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
		}
	}
	c.mu.Unlock()
}

func (c *conn) sendGoAway(code http2.ErrCode) {
	c.mu.Lock()
	if !c.closed {
		c.goneAway = true
		_ = c.fr.WriteGoAway(c.maxID, code, nil)
		c.flushLocked()
	}
	c.mu.Unlock()
}

// teardown ends the connection after the reader stopped: every stream is told, the
// writer flushes what is queued (a GOAWAY) and the socket is closed.
//
// With linger (the connection ends on the client's error), the socket's write side is shut
// first and what the client still sends is read and dropped for up to a second: closing a
// socket with unread input would reset it, and the client could lose the GOAWAY that tells
// it why.
func (c *conn) teardown(linger bool) {
	c.mu.Lock()
	c.closed = true
	var gones []func()
	var cancels []context.CancelFunc
	for _, st := range c.streams {
		if st.gone != nil && !st.reset {
			gones = append(gones, st.gone)
		}
		st.reset = true
		st.pending = nil
		if st.cancel != nil {
			cancels = append(cancels, st.cancel)
		}
		if st.body != nil {
			st.body.closeWithErrorLocked(errConnClosed)
		}
		if st.detached {
			delete(c.streams, st.id)
		}
	}
	c.blocked = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	for _, f := range cancels {
		f()
	}
	runAll(gones)
	c.cxl()
	// Wait for the writer to write what is queued (the last frames: END_STREAM, GOAWAY) and
	// stop, then close the socket.
	<-c.wdone
	if linger {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.CopyN(io.Discard, c.nc, 256<<10)
	}
	_ = c.nc.Close()
	c.srv.remove(c)
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}

var (
	errStreamReset = errors.New("h2conn: stream reset by the client")
	errConnClosed  = errors.New("h2conn: connection closed")
)
