// Package server is Herald's HTTP face: the SSE endpoint, the publish API, presence, health
// and readiness, CORS, HTTP/2 (TLS with ALPN h2, and cleartext h2c), and graceful drain.
//
// A Server owns a hub.Hub bound to one herald.Engine. It never imports a broker client; the
// command line picks and builds the engine. The rooms:
//
//   - Configuration (config.go, auth_config.go, limits.go): Config with its defaults, checked
//     in one place (Config.withDefaults) before anything is built.
//   - Streams (events.go, rawstream.go, socket.go): GET /v1/events parses topics and the
//     cursor, is admitted, registers with the hub and is served either by its handler
//     goroutine or, for plain HTTP/1.1, hijacked and handed to the hub's writer pool.
//   - Publishing (publish.go): one pipeline — decode → validate → authorize → engine →
//     online and offline fallback → metrics → answer — for POST /v1/publish, the demo
//     pages' API (Server.Publish), presence join/leave events and the stats feed.
//   - Auth (security.go, admission.go, guard.go): JWT/JWKS/API keys through package auth,
//     the admin token for Herald's own topics, /dashboard and (optionally) /metrics; every
//     request is admitted before it is served, and a refusal is answered by Server.denied.
//   - Limits (limits.go, admission.go): per-IP rate of new streams, per-IP and per-user
//     stream slots, publish rate per credential, body size and read timeouts (package limit).
//   - Presence (presence.go): GET /v1/presence and /v1/online (an API key or the admin
//     token), the node's presence tracker, and the signed offline webhook.
//   - Stats (stats.go): a metrics snapshot published once a second on herald:stats while
//     a dashboard listens; Herald's own namespace is reserved to it.
//   - Connections (sorter.go, conn_kind.go, peek_*.go): where the writer pool runs, accepted
//     connections are sorted by their first bytes between net/http, Herald's HTTP/2 engine
//     (internal/h2conn) and, for cleartext connections that start with POST /v1/publish,
//     the HTTP/1.1 publish lane (internal/h1conn), which serves s.Handler() itself and hands
//     net/http any request it does not fully understand.
//   - Logs (redact.go): net/http's error log, with credentials redacted.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/internal/h1conn"
	"github.com/heraldpush/herald/internal/h2conn"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/metrics"
)

// Options are the parts of a Server that are not configuration values.
type Options struct {
	Logger   *slog.Logger
	Observer hub.Observer
	// EngineName is reported in logs ("memory", "redis", "nats").
	EngineName string
	// Metrics, when set, observes the hub, serves GET /metrics and feeds the dashboard's
	// stats topic. Observer is ignored then.
	Metrics *metrics.Metrics
	// PresenceUser, when set, names a stream's user for presence where no token does
	// (tests, a trusted proxy's header); see server/presence.go.
	PresenceUser func(*http.Request) string
}

// Server is a Herald gateway node.
type Server struct {
	cfg    Config
	engine herald.Engine
	hub    *hub.Hub
	log    *slog.Logger
	mux    *http.ServeMux
	name   string
	met    *metrics.Metrics
	stop   func()         // stops the stats publisher and waits for it
	sec    *security      // authentication and limits (auth.go, limits.go)
	pres   *presenceState // presence.go

	// mercure.go; nil unless enabled:
	mercure *mercure.Hub

	mu       sync.Mutex
	started  bool
	draining bool
	lane     *h1conn.Server // Serve's HTTP/1.1 publish lane, nil without one
}

// laneConns returns the number of connections on Serve's publish lane.
func (s *Server) laneConns() int {
	s.mu.Lock()
	lane := s.lane
	s.mu.Unlock()
	if lane == nil {
		return 0
	}
	return lane.Conns()
}

// New returns a server for cfg over engine. Call Start before serving requests.
func New(cfg Config, engine herald.Engine, opts Options) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.EngineName == "" {
		opts.EngineName = "custom"
	}
	s := &Server{cfg: cfg, engine: engine, log: opts.Logger, name: opts.EngineName, mux: http.NewServeMux(), met: opts.Metrics}
	if opts.Metrics != nil {
		opts.Observer = opts.Metrics
	}
	if s.sec, err = newSecurity(cfg, opts.Logger); err != nil { // security hook
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := s.setupPresence(opts); err != nil { // presence.go
		return nil, err
	}
	s.hub = hub.New(hub.Options{
		Engine:         engine,
		Observer:       opts.Observer,
		Logger:         opts.Logger,
		Heartbeat:      cfg.Heartbeat,
		HeartbeatEvent: cfg.HeartbeatEvent,
		Retry:          cfg.Retry,
		MaxLifetime:    cfg.MaxLifetime,
		MaxQueueBytes:  cfg.MaxQueueBytes,
		SendBuffer:     max(cfg.SendBuffer, 0),
		Presence:       s.presenceTracker(),
	})
	s.mux.HandleFunc("/v1/events", s.handleEvents)
	s.mux.HandleFunc("/v1/publish", s.handlePublish)
	s.mux.HandleFunc("/healthz", s.handleHealth)
	s.mux.HandleFunc("/readyz", s.handleReady)
	if s.met != nil {
		s.mux.Handle("/metrics", s.met.Handler())
	}
	if err := s.setupMercure(); err != nil { // mercure.go
		return nil, fmt.Errorf("config: %w", err)
	}
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Hub returns the server's hub.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Handle mounts an extra handler (metrics, pages) on the server's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Start attaches the hub to the engine.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil
	}
	if err := s.hub.Start(ctx); err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	s.started = true
	s.startPresence() // presence.go
	s.startMercure()  // mercure.go
	if s.met != nil {
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		s.stop = func() { stop(); <-done }
		go func() {
			defer close(done)
			s.runStats(sctx, s.met)
		}()
	}
	return nil
}

// HTTP2Streams reports which HTTP/2 server Serve uses: HTTP2Detached (Herald's engine,
// where the configuration asks for it and the hub's writer pool runs) or HTTP2Std.
func (s *Server) HTTP2Streams() string {
	if s.cfg.HTTP2Streams == HTTP2Detached && s.hub.CanDetach() {
		return HTTP2Detached
	}
	return HTTP2Std
}

// Handler returns the HTTP handler with CORS and the admin-token guard applied.
func (s *Server) Handler() http.Handler { return s.cors(s.adminGuard(s.mux)) }

// Drain ends every stream spread over the configured drain window and waits for them (or
// ctx). Readiness turns 503 at once so load balancers stop sending new clients.
func (s *Server) Drain(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	if s.met != nil {
		s.met.SetDraining(true)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.drainMercure(ctx) }() // mercure.go
	s.hub.Drain(ctx, s.cfg.Drain)
	<-done
}

// Close ends every stream at once and stops the hub. It does not close the engine.
func (s *Server) Close() {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		stop() // returns once the stats publisher has
	}
	s.closeMercure() // mercure.go: before the hub it follows the log through
	s.hub.Close()
	s.closePresence() // presence.go: goodbye after every stream left
}

// ListenAndServe serves on cfg.Addr until ctx is done, then stops accepting, drains the
// streams over the drain window and returns nil. ready, if not nil, receives the bound
// address once the listener is open.
func (s *Server) ListenAndServe(ctx context.Context, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln, ready)
}

// Serve serves on ln until ctx is done, like ListenAndServe. It starts the server if Start
// was not called.
func (s *Server) Serve(ctx context.Context, ln net.Listener, ready func(net.Addr)) error {
	if err := s.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           s.Handler(),
		Protocols:         &protocols,
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout, // security: slowloris
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.errorLog(), // security: tokens redacted
		ConnContext:       withConn,     // socket.go
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		protocols.SetHTTP2(true)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}}
	}
	// Herald's HTTP/2 engine takes the HTTP/2 connections where the writer pool runs; the
	// standard server gets the rest from the sorter (sorter.go).
	var h2 *h2conn.Server
	var lane *h1conn.Server
	var sort *sorter
	if s.HTTP2Streams() == HTTP2Detached {
		h2 = h2conn.NewServer(h2conn.Config{
			Handler:           s.Handler(),
			MaxHeaderListSize: uint32(hs.MaxHeaderBytes),
			IdleTimeout:       hs.IdleTimeout,
			PrefaceTimeout:    s.cfg.Limits.ReadHeaderTimeout,
			ConnContext:       withConn,
			Logger:            s.log,
		})
		sort = newSorter(ln, hs.TLSConfig, h2, s.cfg.Limits.ReadHeaderTimeout, s.log)
		if hs.TLSConfig == nil && !s.cfg.NoPublishLane {
			lane = h1conn.NewServer(h1conn.Config{
				Handler:           s.Handler(),
				Path:              publishPath,
				ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
				IdleTimeout:       hs.IdleTimeout,
				BodyTimeout:       cmp.Or(s.cfg.Limits.ReadTimeout, s.cfg.Limits.ReadHeaderTimeout),
				MaxHeaderBytes:    hs.MaxHeaderBytes,
				MaxBodyBytes:      int64(s.cfg.MaxBodyBytes),
				ConnContext:       withConn,
				Handoff:           sort.handoff,
				Logger:            s.log,
			})
			sort.lane = lane
			s.mu.Lock()
			s.lane = lane
			s.mu.Unlock()
		}
		ln = sort.std
		go sort.run()
	} else if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// stopSorted stops accepting and waits for the sorter; h2's connections are the caller's.
	stopSorted := func() {
		if sort != nil {
			sort.stop()
		}
	}
	select {
	case err := <-errc:
		stopSorted()
		if h2 != nil {
			h2.Close()
		}
		if lane != nil {
			lane.Close()
		}
		s.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining streams", "window", s.cfg.Drain, "streams", s.hub.Conns())
	// Stop accepting and end streams spread over the window; Shutdown returns once every
	// handler (stream) has returned. HTTP/2 connections of the engine get GOAWAY at once and
	// close when their last stream ended.
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Drain+10*time.Second)
	defer cancel()
	if h2 != nil {
		stopSorted()
		h2.GoAway() // before the drain ends any stream: clients learn it first
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Drain(shutCtx)
	}()
	var h2err, laneErr error
	if h2 != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2err = h2.Shutdown(shutCtx)
		}()
	}
	if lane != nil {
		// Idle lane connections close now; a publish being served is answered first.
		wg.Add(1)
		go func() {
			defer wg.Done()
			laneErr = lane.Shutdown(shutCtx)
		}()
	}
	err := hs.Shutdown(shutCtx)
	wg.Wait()
	s.Close()
	if h2 != nil {
		h2.Close() // after the hub ended every stream; a no-op unless the drain timed out
	}
	if lane != nil {
		lane.Close() // a no-op unless the shutdown timed out
	}
	err = cmp.Or(err, h2err, laneErr)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// With the sorter, its listener was closed before Shutdown: Serve may report that.
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !(sort != nil && errors.Is(err, net.ErrClosed)) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		writeError(w, http.StatusServiceUnavailable, "draining", "the node is shutting down")
		return
	}
	if p, ok := s.engine.(herald.Pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			writeError(w, http.StatusServiceUnavailable, "engine_unavailable", "engine: "+err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "engine": s.name})
}
