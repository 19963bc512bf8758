// Package h2conn is Herald's HTTP/2 server connection engine: it speaks HTTP/2 on
// connections handed to it (h2c with prior knowledge, or TLS after ALPN "h2") with
// golang.org/x/net/http2's Framer and hpack, and serves every request through a standard
// http.Handler — except that a handler may detach its response (ResponseWriter's Detach):
// the handler goroutine then returns and the stream lives on as a Stream without any
// goroutine, written by someone else (Herald's writer pool) as DATA frames on the shared
// connection. That is what makes an idle HTTP/2 event stream cost about as much as a
// detached HTTP/1.1 one.
//
// One goroutine per connection reads frames and one writes them (every frame of the
// connection goes through one buffer, so frames of many streams share one write(2)). Each
// request that is not detached runs in its own goroutine for as long as its handler does.
//
// The engine bounds what a peer can make it hold or do, with simple counters (see limits in
// conn.go): concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS, also counting handlers
// still running after a reset), stream resets per second (rapid reset, CVE-2023-44487),
// the header list size (the Framer closes the connection on CONTINUATION floods), PING and
// SETTINGS frames per second, and the connection's unsent output.
package h2conn

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxConcurrentStreams = 250
	DefaultMaxHeaderListSize    = 64 << 10
	DefaultIdleTimeout          = 2 * time.Minute
	DefaultWriteTimeout         = 30 * time.Second
	DefaultPrefaceTimeout       = 10 * time.Second
)

// Config configures a Server.
type Config struct {
	// Handler serves every request.
	Handler http.Handler
	// MaxConcurrentStreams is advertised to clients and enforced; handlers still running
	// for streams the client reset count too.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's header list (HPACK-decoded size); a larger one
	// is answered 431, a much larger one closes the connection.
	MaxHeaderListSize uint32
	// IdleTimeout closes a connection without streams after this long.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write of the connection to its socket; a connection whose
	// client stops reading is closed after it.
	WriteTimeout time.Duration
	// PrefaceTimeout bounds the wait for the client's preface and first SETTINGS.
	PrefaceTimeout time.Duration
	// MaxResetsPerSecond bounds the streams a client may reset (or have refused) per
	// second; beyond it the connection is closed with ENHANCE_YOUR_CALM. Default 1000.
	MaxResetsPerSecond int
	// MaxControlPerSecond bounds the PING and SETTINGS frames a client may send per second.
	// Default 1000.
	MaxControlPerSecond int
	// ConnContext, when set, derives a connection's base context (like http.Server's).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// Logger receives the engine's errors (debug level for client misbehaviour).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PrefaceTimeout <= 0 {
		c.PrefaceTimeout = DefaultPrefaceTimeout
	}
	if c.MaxResetsPerSecond <= 0 {
		c.MaxResetsPerSecond = 1000
	}
	if c.MaxControlPerSecond <= 0 {
		c.MaxControlPerSecond = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server serves HTTP/2 connections handed to it with ServeConn.
type Server struct {
	cfg Config

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown bool
	wg       sync.WaitGroup // connections' goroutines
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	return &Server{cfg: cfg.withDefaults(), conns: make(map[*conn]struct{})}
}

// ServeConn serves nc, whose next bytes are the client's HTTP/2 preface, in goroutines of
// its own, and returns at once. nc is a *tls.Conn after a finished handshake that
// negotiated "h2", or a plain connection (h2c with prior knowledge). The server owns nc.
func (s *Server) ServeConn(nc net.Conn) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go c.writeLoop()
	go c.serve()
}

// Conns returns the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// GoAway sends GOAWAY on every connection and refuses new ones: no new streams, the open
// ones go on, and each connection closes once its last stream ended. Shutdown does it too;
// calling GoAway first lets the caller order it before ending streams itself.
func (s *Server) GoAway() {
	for _, c := range s.stop() {
		c.goAway()
	}
}

// Shutdown sends GOAWAY on every connection (no new streams; the open ones go on), closes
// each once its streams have ended, and returns when all are closed — or when ctx is done,
// after closing the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.GoAway()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every connection at once and waits for their goroutines. Detached streams
// are told their client is gone.
func (s *Server) Close() {
	for _, c := range s.stop() {
		_ = c.nc.Close()
	}
	s.wg.Wait()
}

// stop refuses new connections and returns the open ones.
func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// tlsState returns the connection state of a TLS connection, or nil.
func tlsState(nc net.Conn) *tls.ConnectionState {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}
