// Package h1conn is Herald's HTTP/1.1 lane: a minimal server for the simplest, commonest
// request — a POST of a small body of known length to one path (POST /v1/publish) on a
// keep-alive connection — served by the same http.Handler as everything else through its
// own http.Request and http.ResponseWriter, without net/http's per-request machinery (the
// background read goroutine, the per-request contexts, bufio readers and header clones).
//
// A connection enters the lane once its first request line is known to be one the lane
// takes. Any request the lane does not fully understand (another method or path, another
// protocol version, no Content-Length, a Transfer-Encoding, Expect, Upgrade, a malformed or
// over-long head, a body over the limit) is handed, at the request boundary, to the
// standard server: the bytes the lane read are replayed first (Config.Handoff), so net/http
// answers it exactly as it always did.
package h1conn

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server.
type Config struct {
	// Handler serves the requests.
	Handler http.Handler
	// Path is the only request path the lane serves ("/v1/publish").
	Path string
	// ReadHeaderTimeout bounds the reading of a request head (from its first byte).
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive connection.
	IdleTimeout time.Duration
	// BodyTimeout bounds the reading of a request body unless the handler sets a read
	// deadline itself (http.ResponseController).
	BodyTimeout time.Duration
	// MaxHeaderBytes bounds a request head; a longer one goes to net/http.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; a longer one goes to net/http.
	MaxBodyBytes int64
	// ConnContext, if set, derives a connection's base context (server.withConn).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// Handoff takes a connection the lane gives up on, at a request boundary; nc's reads
	// return the bytes the lane had read and not served first. Handoff owns nc.
	Handoff func(nc net.Conn)
	// Logger logs handler panics. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = c.ReadHeaderTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = http.DefaultMaxHeaderBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Handoff == nil {
		c.Handoff = func(nc net.Conn) { _ = nc.Close() }
	}
	return c
}

// Server serves lane connections.
type Server struct {
	cfg Config

	mu       sync.Mutex
	conns    map[*conn]struct{}
	stopping atomic.Bool    // Shutdown or Close was called; set under mu
	wg       sync.WaitGroup // connections' goroutines
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	return &Server{cfg: cfg.withDefaults(), conns: make(map[*conn]struct{})}
}

// ServeConn serves nc, whose first bytes are a request line the lane takes, in a goroutine
// of its own, and returns at once. The server owns nc.
func (s *Server) ServeConn(nc net.Conn) {
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

// Conns returns the number of open lane connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops serving new requests: idle connections close at once, a connection
// serving a request closes after answering it (with Connection: close). It returns once
// every connection closed, or with ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping.Store(true)
	for c := range s.conns {
		if c.idle {
			c.interrupt()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes every connection, busy or not, and waits for their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.stopping.Store(true)
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// shuttingDown reports whether Shutdown or Close was called.
func (s *Server) shuttingDown() bool { return s.stopping.Load() }

// setIdle marks c idle (waiting for a request) or busy; it reports false when the server
// is shutting down, and c must close.
func (s *Server) setIdle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !s.stopping.Load()
}

// forget drops c from the connections Shutdown and Close act on.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// remove is the end of c's goroutine.
func (s *Server) remove(c *conn) {
	s.forget(c)
	s.wg.Done()
}

// aLongTimeAgo is a read deadline that interrupts a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)
