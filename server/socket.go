package server

import (
	"context"
	"net"
	"net/http"

	"github.com/heraldpush/herald/hub"
)

// Socket options for streams that stay on their net/http goroutine (HTTP/1.1 with
// --no-hijack, HTTPS/1.1). Hijacked streams get the same from the hub (hub/socket.go);
// HTTP/2 streams share their connection with others, so they are left alone.

// connKey is the request-context key of the request's connection.
type connKey struct{}

// withConn is the http.Server's ConnContext: it makes the connection reachable from its
// requests' contexts.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// tcpConn returns the TCP connection under r, or nil (a test server without withConn, or a
// connection that is not TCP). It looks through wrappers with a NetConn method: a
// *tls.Conn, and a connection the publish lane handed to net/http (h1conn.ReplayConn).
func tcpConn(r *http.Request) *net.TCPConn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	for range 4 {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	tc, _ := c.(*net.TCPConn)
	return tc
}

// boundSendBuffer applies Config.SendBuffer to r's connection.
func (s *Server) boundSendBuffer(r *http.Request) {
	if tc := tcpConn(r); tc != nil && s.cfg.SendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SendBuffer)
	}
}

// Abort implements hub.Aborter: a slow consumer's HTTP/1.1 connection ends with a reset when
// net/http closes it (which it does as soon as the interrupted write fails).
func (s *httpStream) Abort() {
	if s.r.ProtoMajor != 1 {
		return // HTTP/2: the stream is reset, the shared connection stays
	}
	if tc := tcpConn(s.r); tc != nil {
		hub.Abort(tc)
	}
}
