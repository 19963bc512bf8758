package h2conn

// The connection's output: every frame is appended to one buffer under the connection's
// lock, and one writer goroutine per connection writes the buffer with one write(2) at a
// time, so the frames of many streams share a write. DATA respects the peer's windows (the
// connection's and the stream's) and the buffer's room (maxOut).

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// writeLoop is the connection's writer goroutine.
func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	defer close(c.wdone)
	c.mu.Lock()
	for {
		for len(c.out) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.out) == 0 { // closed, everything written
			c.out, c.spare = nil, nil
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		b := c.out
		c.out, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		_, err := c.nc.Write(b)
		c.mu.Lock()
		if cap(b) <= 16<<10 {
			c.spare = b[:0]
		}
		if err != nil {
			c.dead = err
			c.out, c.spare = nil, nil
			c.cond.Broadcast()
			c.mu.Unlock()
			_ = c.nc.Close() // the reader ends and tears the connection down
			return
		}
		resumes := c.unblockLocked()
		c.cond.Broadcast()
		if len(resumes) > 0 {
			c.mu.Unlock()
			runAll(resumes)
			c.mu.Lock()
		}
	}
}

// flushLocked wakes the writer for what was appended to the output.
func (c *conn) flushLocked() { c.cond.Broadcast() }

// flushControlLocked is flushLocked for frames the peer provoked (PING, SETTINGS acks): a
// peer that provokes them without reading its socket is cut off.
func (c *conn) flushControlLocked() error {
	c.flushLocked()
	if len(c.out) > maxOutHard {
		return connError{http2.ErrCodeEnhanceYourCalm, "the client does not read its socket"}
	}
	return nil
}

// writable reports whether frames may still be written on the connection.
func (c *conn) writableLocked() bool { return !c.closed && c.dead == nil }

// writeDataLocked frames as much of p as the windows and the output's room allow as DATA
// frames of st, and reports how much that was.
func (c *conn) writeDataLocked(st *Stream, p []byte) int {
	n := 0
	for n < len(p) && c.writableLocked() {
		room := min(st.sendWindow, c.sendWindow, int64(c.peerFrame), int64(len(p)-n), int64(maxOut-len(c.out)))
		if room <= 0 {
			break
		}
		c.appendDataFrame(st.id, p[n:n+int(room)], false)
		st.sendWindow -= room
		c.sendWindow -= room
		n += int(room)
	}
	if n > 0 {
		c.flushLocked()
	}
	return n
}

// appendDataFrame appends one DATA frame. Its header is written by hand: the Framer would
// copy the payload through a buffer of its own that stays as large as the largest frame.
func (c *conn) appendDataFrame(id uint32, p []byte, end bool) {
	if c.dead != nil {
		return
	}
	var flags byte
	if end {
		flags = byte(http2.FlagDataEndStream)
	}
	l := len(p)
	c.out = append(c.out, byte(l>>16), byte(l>>8), byte(l), byte(http2.FrameData), flags,
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
	c.out = append(c.out, p...)
}

// endStreamLocked sends an empty DATA frame with END_STREAM.
func (c *conn) endStreamLocked(st *Stream) {
	if c.writableLocked() {
		c.appendDataFrame(st.id, nil, true)
		c.flushLocked()
	}
	st.endSent = true
}

// writeHeadersLocked sends a response's HEADERS (and CONTINUATION) frames.
func (c *conn) writeHeadersLocked(id uint32, status int, h http.Header, end bool) {
	if !c.writableLocked() {
		return
	}
	c.encBuf.b = c.encBuf.b[:0]
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(status)})
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		lk := strings.ToLower(k)
		switch lk {
		case "connection", "proxy-connection", "transfer-encoding", "upgrade", "keep-alive":
			continue // connection-specific: not in HTTP/2
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			_ = c.enc.WriteField(hpack.HeaderField{Name: lk, Value: v})
		}
	}
	block := c.encBuf.b
	first := true
	for first || len(block) > 0 {
		n := min(len(block), int(c.peerFrame))
		frag := block[:n]
		block = block[n:]
		if first {
			_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag,
				EndStream: end, EndHeaders: len(block) == 0})
			first = false
		} else {
			_ = c.fr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
	if cap(c.encBuf.b) > 4<<10 {
		c.encBuf.b = nil
	}
	c.flushLocked()
}

// unblockLocked sends what blocked detached streams kept, as far as the windows allow, and
// returns the resume callbacks of those that have sent everything.
func (c *conn) unblockLocked() []func() {
	if len(c.blocked) == 0 || !c.writableLocked() {
		return nil
	}
	var resumes []func()
	kept := c.blocked[:0]
	for _, st := range c.blocked {
		if st.reset || !st.isBlocked {
			st.isBlocked = false
			continue
		}
		if len(c.out) < maxOut {
			n := c.writeDataLocked(st, st.pending)
			st.pending = st.pending[n:]
		}
		if len(st.pending) > 0 {
			kept = append(kept, st)
			continue
		}
		st.pending = nil
		st.isBlocked = false
		if st.resume != nil {
			resumes = append(resumes, st.resume)
		}
	}
	clear(c.blocked[len(kept):])
	c.blocked = kept
	if len(kept) == 0 {
		c.blocked = nil
	}
	return resumes
}
