// Package gatewaytest runs a real Herald gateway in-process for the tests of the clients and
// examples: the server package `herald serve` runs, on a loopback port, with the engine the
// test chose.
package gatewaytest

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// Start serves cfg with eng (named name in readiness answers) and returns the base URL. The
// test's cleanup ends the streams, the listener and the engine.
func Start(tb testing.TB, cfg server.Config, eng herald.Engine, name string) string {
	tb.Helper()
	srv, err := server.New(cfg, eng, server.Options{Logger: slog.New(slog.DiscardHandler), EngineName: name})
	if err != nil {
		tb.Fatalf("gatewaytest: server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatalf("gatewaytest: server.Start: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		srv.Close() // ends the streams, so that hs.Close does not wait for them
		hs.Close()
		eng.Close()
	})
	return hs.URL
}

// Memory is Start with the memory engine, retaining what cfg says.
func Memory(tb testing.TB, cfg server.Config) string {
	tb.Helper()
	eng := memory.New(memory.Options{Retention: cfg.Retention, Logger: slog.New(slog.DiscardHandler)})
	return Start(tb, cfg, eng, "memory")
}

// Serve runs srv the way `herald serve` does (Server.Serve: its own http.Server, header
// timeouts, TLS when configured, drain on shutdown) on a free loopback port and returns the
// address. The test's cleanup stops it, waits up to 20 s for the drain, and closes eng.
func Serve(tb testing.TB, srv *server.Server, eng herald.Engine) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(testserver.FreePort(tb)))
	if err != nil {
		tb.Fatalf("gatewaytest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, nil) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("gatewaytest: Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			tb.Error("gatewaytest: herald did not stop within 20 s")
		}
		eng.Close()
	})
	return ln.Addr().String()
}
