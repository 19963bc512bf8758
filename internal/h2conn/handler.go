package h2conn

// The bridge to net/http handlers: a request built from HEADERS, served by the
// configured http.Handler in a goroutine of its own, through a ResponseWriter on the
// stream (buffered writes, http.Flusher, ResponseController deadlines, Content-Length for
// short bodies, content sniffing like net/http) — and Detach, which ends the goroutine's
// part and leaves the stream to its new owner.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
)

// newRequest builds the request of a new stream; called under c.mu.
func (c *conn) newRequest(st *Stream, f *http2.MetaHeadersFrame) (*http.Request, error) {
	method := f.PseudoValue("method")
	path := f.PseudoValue("path")
	scheme := f.PseudoValue("scheme")
	authority := f.PseudoValue("authority")
	if method == "" || path == "" || scheme == "" || method == http.MethodConnect {
		return nil, errors.New("h2conn: missing or unsupported pseudo-headers")
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("h2conn: bad :path: %w", err)
	}
	hdr := make(http.Header, len(f.Fields))
	var cookies []string
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			// Connection-specific fields make a request malformed (RFC 9113 §8.2.2).
			return nil, fmt.Errorf("h2conn: connection-specific header field %q", hf.Name)
		case "te":
			if hf.Value != "trailers" {
				return nil, errors.New(`h2conn: TE header field other than "trailers"`)
			}
		}
		if hf.Name == "cookie" {
			cookies = append(cookies, hf.Value)
			continue
		}
		k := http.CanonicalHeaderKey(hf.Name)
		hdr[k] = append(hdr[k], hf.Value)
	}
	if len(cookies) > 0 {
		hdr.Set("Cookie", strings.Join(cookies, "; "))
	}
	if authority == "" {
		authority = hdr.Get("Host")
	}
	st.recvWindow = initialWindow
	req := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     hdr,
		Host:       authority,
		RemoteAddr: c.remote,
		RequestURI: path,
		TLS:        tlsState(c.nc),
	}
	if f.StreamEnded() {
		st.remoteDone = true
		req.Body = http.NoBody
	} else {
		st.body = &pipe{st: st}
		req.Body = st.body
		req.ContentLength = -1
		if cl := hdr.Get("Content-Length"); cl != "" {
			n, err := strconv.ParseInt(cl, 10, 64)
			if err != nil || n < 0 {
				return nil, errors.New("h2conn: bad Content-Length")
			}
			req.ContentLength = n
			st.declLen = n
		}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	st.cancel = cancel
	return req.WithContext(ctx), nil
}

// runHandler serves one request in its own goroutine.
func (c *conn) runHandler(st *Stream, req *http.Request) {
	defer c.srv.wg.Done()
	rw := &responseWriter{st: st, req: req, hdr: make(http.Header), clen: -1}
	defer func() {
		if e := recover(); e != nil {
			if e != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.cfg.Logger.Error("http2: panic serving request", "remote", c.remote, "err", fmt.Sprint(e),
					"stack", string(buf))
			}
			rw.abort(http2.ErrCodeInternal)
			return
		}
		rw.finish()
	}()
	c.srv.cfg.Handler.ServeHTTP(rw, req)
}

// responseWriter is the http.ResponseWriter of a stream served by a handler.
type responseWriter struct {
	st         *Stream
	req        *http.Request
	hdr        http.Header
	snap       http.Header // the header at WriteHeader
	status     int
	headerSent bool
	buf        []byte
	clen       int64 // declared Content-Length, -1 if none
	written    int64
	detached   bool
	done       bool
}

const bufferSize = 4 << 10

func (rw *responseWriter) Header() http.Header { return rw.hdr }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.done || rw.detached {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 || rw.status != 0 {
		return // informational answers are not sent; a second status is ignored, as net/http does
	}
	rw.status = code
	rw.snap = rw.hdr.Clone()
	if rw.snap == nil {
		rw.snap = make(http.Header)
	}
	if cl := rw.snap.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			rw.clen = n
		} else {
			rw.snap.Del("Content-Length")
		}
	}
}

func (rw *responseWriter) bodyAllowed() bool {
	return rw.status != http.StatusNoContent && rw.status != http.StatusNotModified &&
		(rw.status < 100 || rw.status > 199)
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.done || rw.detached {
		return 0, http.ErrHandlerTimeout
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if rw.req.Method == http.MethodHead {
		return len(p), nil
	}
	if rw.clen >= 0 && rw.written+int64(len(p)) > rw.clen {
		return 0, http.ErrContentLength
	}
	rw.written += int64(len(p))
	if len(rw.buf)+len(p) > bufferSize && len(rw.buf) > 0 {
		if err := rw.flush(false); err != nil {
			return 0, err
		}
	}
	if len(p) >= bufferSize {
		if err := rw.sendHeaders(false); err != nil {
			return 0, err
		}
		if err := rw.st.writeBlocking(p, false, time.Time{}); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	rw.buf = append(rw.buf, p...)
	return len(p), nil
}

func (rw *responseWriter) WriteString(s string) (int, error) { return rw.Write([]byte(s)) }

// Flush sends the headers and what is buffered (http.Flusher).
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError is Flush reporting its error (http.ResponseController).
func (rw *responseWriter) FlushError() error {
	if rw.done || rw.detached {
		return http.ErrHandlerTimeout
	}
	return rw.flush(false)
}

// SetWriteDeadline bounds the stream's writes (http.ResponseController). It may be called
// from any goroutine.
func (rw *responseWriter) SetWriteDeadline(t time.Time) error {
	c := rw.st.c
	c.mu.Lock()
	rw.st.wdeadline = t
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// SetReadDeadline bounds reads of the request body (http.ResponseController).
func (rw *responseWriter) SetReadDeadline(t time.Time) error {
	c := rw.st.c
	c.mu.Lock()
	if rw.st.body != nil {
		rw.st.body.rdeadline = t
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// EnableFullDuplex reports success: HTTP/2 is full duplex.
func (rw *responseWriter) EnableFullDuplex() error { return nil }

// sendHeaders sends the response's HEADERS unless they went already.
func (rw *responseWriter) sendHeaders(end bool) error {
	if rw.headerSent {
		return nil
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	h := rw.snap
	if _, ok := h["Content-Type"]; !ok && rw.bodyAllowed() && len(rw.buf) > 0 && h.Get("Content-Encoding") == "" {
		h.Set("Content-Type", http.DetectContentType(rw.buf))
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	c := rw.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if rw.st.reset {
		return errStreamReset
	}
	if !c.writableLocked() {
		return errConnClosed
	}
	c.writeHeadersLocked(rw.st.id, rw.status, h, end)
	rw.headerSent = true
	if end {
		rw.st.endSent = true
	}
	return nil
}

// flush sends the headers and the buffer; with end, the stream's end too.
func (rw *responseWriter) flush(end bool) error {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if !rw.headerSent {
		if end && rw.clen < 0 && rw.bodyAllowed() && rw.req.Method != http.MethodHead {
			rw.snap.Set("Content-Length", strconv.Itoa(len(rw.buf)))
		}
		if err := rw.sendHeaders(end && len(rw.buf) == 0); err != nil {
			return err
		}
		if end && len(rw.buf) == 0 {
			return nil
		}
	}
	if len(rw.buf) == 0 && !end {
		return nil
	}
	err := rw.st.writeBlocking(rw.buf, end, time.Time{})
	rw.buf = rw.buf[:0]
	return err
}

// finish ends the response after the handler returned.
func (rw *responseWriter) finish() {
	st := rw.st
	c := st.c
	if !rw.detached {
		err := rw.flush(true)
		rw.done = true
		c.mu.Lock()
		if err == nil && !st.reset && !st.remoteDone && c.writableLocked() {
			// The client is still sending a body nobody will read.
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeNo)
			c.flushLocked()
		} else if err != nil && !st.reset && c.writableLocked() {
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeInternal)
			c.flushLocked()
		}
		c.removeLocked(st)
		c.mu.Unlock()
	}
	rw.release()
}

// abort resets the stream after a handler panicked (http.ErrAbortHandler included).
func (rw *responseWriter) abort(code http2.ErrCode) {
	st := rw.st
	c := st.c
	rw.done = true
	c.mu.Lock()
	if !rw.detached {
		if !st.reset && c.writableLocked() {
			_ = c.fr.WriteRSTStream(st.id, code)
			c.flushLocked()
		}
		st.reset = true
		c.removeLocked(st)
	}
	c.mu.Unlock()
	rw.release()
}

// release drops what the handler's part of the stream held: its context, its body.
func (rw *responseWriter) release() {
	st := rw.st
	c := st.c
	c.mu.Lock()
	cancel := st.cancel
	st.cancel = nil
	body := st.body
	st.body = nil
	c.mu.Unlock()
	if body != nil {
		_ = body.Close()
	}
	if cancel != nil {
		cancel()
	}
	rw.buf, rw.req = nil, nil
}

// Detach sends the response's HEADERS now — the status set by WriteHeader (200 if none)
// and the header — and hands the stream's body over: the handler returns without writing
// to rw again, and the returned Stream stays open, owned by the caller, until it is ended
// with End or reset by the client. The request's context is canceled when the handler
// returns, as usual.
func (rw *responseWriter) Detach() (*Stream, error) {
	if rw.headerSent || rw.detached || rw.done || len(rw.buf) > 0 {
		return nil, errors.New("h2conn: Detach after the response started")
	}
	if err := rw.sendHeaders(false); err != nil {
		return nil, err
	}
	c := rw.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if rw.st.reset {
		return nil, errStreamReset
	}
	rw.detached = true
	rw.st.detached = true
	return rw.st, nil
}
