package h1conn

// The lane's http.ResponseWriter. It writes what net/http's would, header for header and
// in the same order: the status line, the handler's header as it was at WriteHeader
// (sorted, as http.Header.WriteSubset writes it), then Date, Content-Length (for a body
// complete when the handler returns), a sniffed Content-Type, Connection: close,
// Transfer-Encoding: chunked (for a longer body of unknown length). An answer is written
// with one write.

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeChunking is net/http's: a body up to this long, complete when the handler
// returns, is sent with a Content-Length; a longer one of unknown length is chunked.
const bufferBeforeChunking = 2048

type response struct {
	c   *conn
	req *http.Request

	status      int
	wroteHeader bool // WriteHeader was called (the header is in c.head)
	headSent    bool
	chunking    bool
	done        bool // the handler returned
	closeAfter  bool // the connection closes after this answer
	wdeadline   bool // the handler set a write deadline

	clen    int64 // the declared Content-Length, -1 if none
	written int64

	// From the header at WriteHeader:
	hasDate, hasType, hasCE, hasTE, connClose bool
	delConn                                   bool // Connection is replaced by "close"
}

func (rw *response) init(c *conn, req *http.Request) {
	rw.c, rw.req, rw.clen = c, req, -1
	c.head, c.body = c.head[:0], c.body[:0]
}

// Header implements http.ResponseWriter.
func (rw *response) Header() http.Header { return rw.c.hdr }

// excludeTE drops a handler's Transfer-Encoding header: the lane decides the framing.
var excludeTE = map[string]bool{"Transfer-Encoding": true}

// WriteHeader implements http.ResponseWriter: the header is taken as it is now.
func (rw *response) WriteHeader(code int) {
	if rw.done {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if rw.wroteHeader {
		return // a second status is ignored, as net/http does
	}
	h := rw.c.hdr
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out at once; the final one follows.
		b := appendStatusLine(nil, code)
		_ = h.Write((*appender)(&b))
		b = append(b, "\r\n"...)
		if _, err := rw.c.nc.Write(b); err != nil {
			rw.closeAfter = true
		}
		return
	}
	rw.wroteHeader = true
	rw.status = code
	if cl := h.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			rw.clen = v
		} else {
			h.Del("Content-Length")
		}
	}
	_, rw.hasDate = h["Date"]
	_, rw.hasType = h["Content-Type"]
	rw.hasCE = h.Get("Content-Encoding") != ""
	te := h.Get("Transfer-Encoding")
	rw.hasTE = te != ""
	rw.connClose = h.Get("Connection") == "close"
	if rw.req.Close || rw.connClose || rw.c.s.shuttingDown() || te == "identity" {
		rw.closeAfter = true
	}
	var exclude map[string]bool
	if rw.hasTE {
		exclude = excludeTE
	}
	if rw.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		rw.delConn = true
		exclude = map[string]bool{"Transfer-Encoding": true, "Connection": true}
	}
	if !bodyAllowed(code) {
		exclude = map[string]bool{"Transfer-Encoding": true, "Content-Length": true, "Connection": rw.delConn}
		if code == http.StatusNotModified {
			exclude["Content-Type"] = true
		}
		rw.clen = -1
	}
	_ = h.WriteSubset((*appender)(&rw.c.head), exclude)
}

// Write implements http.ResponseWriter.
func (rw *response) Write(p []byte) (int, error) {
	if rw.done {
		return 0, http.ErrHandlerTimeout
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(rw.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if rw.clen >= 0 && rw.written+int64(len(p)) > rw.clen {
		return 0, http.ErrContentLength
	}
	rw.written += int64(len(p))
	c := rw.c
	c.body = append(c.body, p...)
	if len(c.body) > bufferBeforeChunking {
		if err := rw.send(false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// WriteString implements io.StringWriter.
func (rw *response) WriteString(s string) (int, error) { return rw.Write([]byte(s)) }

// Flush sends the header and what is buffered (http.Flusher).
func (rw *response) Flush() { _ = rw.FlushError() }

// FlushError is Flush reporting its error (http.ResponseController).
func (rw *response) FlushError() error {
	if rw.done {
		return http.ErrHandlerTimeout
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.send(false)
}

// SetReadDeadline bounds the reading of the request body (http.ResponseController).
func (rw *response) SetReadDeadline(t time.Time) error {
	if b, ok := rw.req.Body.(*body); ok {
		b.setDeadline(t)
	}
	return nil
}

// SetWriteDeadline bounds the writing of the answer (http.ResponseController); it holds
// for this request only.
func (rw *response) SetWriteDeadline(t time.Time) error {
	rw.wdeadline = true
	return rw.c.nc.SetWriteDeadline(t)
}

// finish completes the answer after the handler returned; it reports false when the
// connection must close.
func (rw *response) finish() bool {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.closeAfter || !rw.headSent && rw.c.s.shuttingDown() && !rw.delConn && !rw.connClose {
		// Shutting down since WriteHeader: say so (net/http decides it when it writes).
		if !rw.closeAfter {
			rw.closeAfter, rw.delConn = true, true
			rw.c.head = rw.c.head[:0]
			_ = rw.c.hdr.WriteSubset((*appender)(&rw.c.head), map[string]bool{"Transfer-Encoding": true, "Connection": true})
		}
	}
	rw.done = true
	err := rw.send(true)
	if rw.clen >= 0 && rw.written != rw.clen && bodyAllowed(rw.status) {
		rw.closeAfter = true // a short answer: the client would wait for the rest
	}
	return err == nil
}

// send writes the head (unless it went already) and the buffered body; with end, the
// answer's end too.
func (rw *response) send(end bool) error {
	c := rw.c
	out := c.out[:0]
	if !rw.headSent {
		rw.headSent = true
		out = appendStatusLine(out, rw.status)
		out = append(out, c.head...)
		if !rw.hasDate {
			out = append(out, "Date: "...)
			out = time.Now().UTC().AppendFormat(out, http.TimeFormat)
			out = append(out, "\r\n"...)
		}
		allowed := bodyAllowed(rw.status)
		if end && allowed && rw.clen < 0 && !rw.hasTE {
			rw.clen = int64(len(c.body))
			out = append(out, "Content-Length: "...)
			out = strconv.AppendInt(out, rw.clen, 10)
			out = append(out, "\r\n"...)
		}
		if allowed && !rw.hasType && !rw.hasCE && !rw.hasTE && len(c.body) > 0 {
			out = append(out, "Content-Type: "...)
			out = append(out, http.DetectContentType(c.body)...)
			out = append(out, "\r\n"...)
		}
		if rw.delConn {
			out = append(out, "Connection: close\r\n"...)
		}
		if allowed && rw.clen < 0 {
			if rw.hasTE && rw.c.hdr.Get("Transfer-Encoding") == "identity" {
				rw.closeAfter = true
			} else {
				rw.chunking = true
				out = append(out, "Transfer-Encoding: chunked\r\n"...)
			}
		}
		out = append(out, "\r\n"...)
	}
	if len(c.body) > 0 {
		if rw.chunking {
			out = strconv.AppendInt(out, int64(len(c.body)), 16)
			out = append(out, "\r\n"...)
			out = append(out, c.body...)
			out = append(out, "\r\n"...)
		} else {
			out = append(out, c.body...)
		}
		c.body = c.body[:0]
	}
	if end && rw.chunking {
		out = append(out, "0\r\n\r\n"...)
	}
	c.out = out[:0]
	if len(out) == 0 {
		return nil
	}
	if _, err := c.nc.Write(out); err != nil {
		rw.closeAfter = true
		return fmt.Errorf("h1conn: write answer: %w", err)
	}
	return nil
}

// bodyAllowed reports whether an answer with status may have a body (net/http's
// bodyAllowedForStatus).
func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// appendStatusLine appends the status line net/http writes for code.
func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
		return append(b, "\r\n"...)
	}
	return fmt.Appendf(b, "%03d status code %d\r\n", code, code)
}

// appender is an io.Writer (and io.StringWriter) appending to a byte slice.
type appender []byte

func (a *appender) Write(p []byte) (int, error) {
	*a = append(*a, p...)
	return len(p), nil
}

func (a *appender) WriteString(s string) (int, error) {
	*a = append(*a, s...)
	return len(s), nil
}
