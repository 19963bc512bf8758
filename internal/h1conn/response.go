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
	hasDate, hasType, hasCE bool
	te                      string // the handler's Transfer-Encoding
	delConn                 bool   // the handler's Connection is replaced by "close"
}

func (rw *response) init(c *conn, req *http.Request) {
	rw.c, rw.req, rw.clen = c, req, -1
	c.head, c.body = c.head[:0], c.body[:0]
}

// Header implements http.ResponseWriter.
func (rw *response) Header() http.Header { return rw.c.hdr }

// Headers left out of the handler's: the lane decides the framing (Transfer-Encoding) and
// whether the connection stays (Connection).
var (
	excludeTE     = map[string]bool{"Transfer-Encoding": true}
	excludeTEConn = map[string]bool{"Transfer-Encoding": true, "Connection": true}
	excludeNoBody = map[string]bool{"Transfer-Encoding": true, "Content-Length": true}
)

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
		_ = h.WriteSubset((*appender)(&b), excludeNoBody)
		b = append(b, "\r\n"...)
		if _, err := rw.c.nc.Write(b); err != nil {
			rw.closeAfter = true
		}
		return
	}
	rw.wroteHeader = true
	rw.status = code
	if cl := get(h, "Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			rw.clen = v
		} else {
			h.Del("Content-Length")
		}
	}
	_, rw.hasDate = h["Date"]
	_, rw.hasType = h["Content-Type"]
	rw.hasCE = h.Get("Content-Encoding") != ""
	rw.te = get(h, "Transfer-Encoding")
	// The connection closes after the answer when the client asked for it, the handler
	// did, or the server is shutting down (net/http: keep-alives off); then the answer
	// says "Connection: close" where the handler's header did not already say so.
	shutdown := rw.c.s.shuttingDown()
	if rw.req.Close || shutdown || get(h, "Connection") == "close" || rw.te == "identity" {
		rw.closeAfter = true
	}
	if b, ok := rw.req.Body.(*body); ok && !rw.closeAfter {
		// What the handler left of the body is dropped after the answer; net/http decides
		// here, as it writes the header, whether that is worth it.
		switch {
		case b.err != nil:
			rw.closeAfter = true // the rest of the body is lost: the connection too
		case b.remain > maxPostHandlerReadBytes:
			rw.closeAfter, rw.c.linger = true, true
		}
	}
	rw.delConn = rw.closeAfter && (shutdown || !httpguts.HeaderValuesContainsToken([]string{get(h, "Connection")}, "close"))
	var exclude map[string]bool
	switch {
	case rw.clen >= 0 && rw.te != "" && rw.te != "identity":
		// Both: net/http ignores the length (and logs it) and chunks.
		exclude = map[string]bool{"Transfer-Encoding": true, "Content-Length": true, "Connection": rw.delConn}
		rw.clen = -1
		rw.c.s.cfg.Logger.Warn("http: WriteHeader called with both Transfer-Encoding and a Content-Length",
			"transfer_encoding", rw.te)
	case !bodyAllowed(code):
		exclude = map[string]bool{"Transfer-Encoding": true, "Content-Length": true,
			"Connection": rw.delConn, "Content-Type": code == http.StatusNotModified}
		rw.clen = -1
	case rw.delConn:
		exclude = excludeTEConn
	case rw.te != "":
		exclude = excludeTE
	}
	rw.c.head = appendHeader(rw.c.head, h, exclude)
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
	rw.done = true
	err := rw.send(true)
	if rw.clen >= 0 && rw.written != rw.clen && bodyAllowed(rw.status) {
		rw.closeAfter = true // a short answer: the client would wait for the rest
	}
	if rw.c.s.shuttingDown() {
		rw.closeAfter = true // shutting down since WriteHeader
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
		if end && allowed && rw.clen < 0 && rw.te == "" {
			rw.clen = int64(len(c.body))
			out = append(out, "Content-Length: "...)
			out = strconv.AppendInt(out, rw.clen, 10)
			out = append(out, "\r\n"...)
		}
		if allowed && !rw.hasType && !rw.hasCE && rw.te == "" && len(c.body) > 0 {
			out = append(out, "Content-Type: "...)
			out = append(out, http.DetectContentType(c.body)...)
			out = append(out, "\r\n"...)
		}
		if rw.delConn {
			out = append(out, "Connection: close\r\n"...)
		}
		if allowed && rw.clen < 0 {
			if rw.te == "identity" {
				rw.closeAfter = true // the body ends with the connection
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

// get is the header's first value for key, looked up as given (net/http's Header.get, for
// the keys it looks up so).
func get(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
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
