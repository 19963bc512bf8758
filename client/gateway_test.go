package client_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/server"
)

// startGateway runs a real Herald gateway (server package, memory engine) on a loopback
// port and returns its base URL and a function that stops it. Examples cannot take a
// testing.TB, so it panics on error.
func startGateway(cfg server.Config) (baseURL string, stop func()) {
	if cfg.Retry == 0 {
		cfg.Retry = 50 * time.Millisecond // reconnect quickly in tests
	}
	discard := slog.New(slog.DiscardHandler)
	eng := memory.New(memory.Options{Retention: cfg.Retention, Logger: discard})
	srv, err := server.New(cfg, eng, server.Options{Logger: discard, EngineName: "memory"})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv.Handler())
	return hs.URL, func() {
		srv.Close() // ends the streams, so that hs.Close does not wait for them
		hs.Close()
		eng.Close()
	}
}
