// Package gatewaytest runs a real Herald gateway in-process for the tests of the clients and
// examples: the server package `herald serve` runs, on a loopback port, with the engine the
// test chose.
package gatewaytest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
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
