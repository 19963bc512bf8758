package server

import (
	"bytes"
	"net/http"
	"time"

	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/internal/h2conn"
)

// detachable reports whether a stream request may leave net/http for the hub's writer pool:
// a plain (not TLS) HTTP/1.1 GET, with Config.NoHijack unset, where the pool runs (Linux).
// HTTP/2 streams share their connection and TLS needs its own writer, so both stay on the
// handler goroutine. An HTTP/1.0 request (nginx's default proxy_http_version) stays there
// too: the pool frames the body in chunks, which HTTP/1.0 does not have.
func (s *Server) detachable(r *http.Request) bool {
	return !s.cfg.NoHijack && r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.TLS == nil && r.Method == http.MethodGet &&
		s.hub.CanDetach()
}

// serveDetached hijacks the connection and hands the stream to the hub, which writes the
// response head below with its first bytes and then the body in HTTP/1.1 chunks, from the
// handler goroutine for the setup and from its writer pool after that. It reports false,
// having written nothing, when the connection cannot be hijacked; the caller then serves the
// stream through net/http as usual. Once it reports true, release (the stream's connection
// slots) is called when the stream ends, by the hub.
func (s *Server) serveDetached(w http.ResponseWriter, c *hub.Conn, release func()) bool {
	h := w.Header()
	setStreamHeaders(h)
	// The connection ends with the stream: say so, so that nobody waits to reuse it.
	h.Set("Connection", "close")
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("\r\n")
	// The returned bufio.ReadWriter is dropped: a GET has nothing more to say, and the hub
	// keeps no buffer for the connection.
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.Del("Connection")
		h.Del("Transfer-Encoding")
		h.Del("Date")
		return false
	}
	c.OnEnd(release)
	c.RunDetached(nc, head.Bytes())
	return true
}

// h2Detacher is the ResponseWriter of Herald's HTTP/2 engine (internal/h2conn).
type h2Detacher interface {
	Detach() (*h2conn.Stream, error)
}

// h2Writer finds the engine's ResponseWriter under w's wrappers, or nil.
func h2Writer(w http.ResponseWriter) h2Detacher {
	for {
		if d, ok := w.(h2Detacher); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// detachableH2 reports whether a stream request arrived on Herald's HTTP/2 engine and may
// leave its handler goroutine for the hub's writer pool (a GET, Config.NoHijack unset).
func (s *Server) detachableH2(w http.ResponseWriter, r *http.Request) bool {
	return !s.cfg.NoHijack && r.ProtoMajor == 2 && r.Method == http.MethodGet && h2Writer(w) != nil &&
		s.hub.CanDetach()
}

// serveDetachedH2 sends the stream's response headers on its HTTP/2 stream and hands the
// stream to the hub as a detached sink: the setup runs here, then the writer pool frames
// its writes as DATA on the shared connection and the handler goroutine returns. It reports
// false, having sent nothing, when the stream cannot be detached (the client reset it).
func (s *Server) serveDetachedH2(w http.ResponseWriter, c *hub.Conn, release func()) bool {
	h := w.Header()
	setStreamHeaders(h)
	st, err := h2Writer(w).Detach()
	if err != nil {
		return false
	}
	c.OnEnd(release)
	c.RunSink(st)
	return true
}
