package examples_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// gateway runs a real Herald gateway (the server package `herald serve` runs, memory
// engine) with cfg on a loopback port and returns its base URL; it stops when the test ends.
func gateway(t *testing.T, cfg server.Config) string {
	t.Helper()
	cfg.Retry = 50 * time.Millisecond
	return gatewaytest.Memory(t, cfg)
}

// run runs name with args in dir and returns its output, failing the test when it exits
// non-zero or takes longer than d.
func run(t *testing.T, dir string, d time.Duration, name string, args ...string) string {
	t.Helper()
	return testserver.Run(t, dir, nil, d, name, args...)
}

// post sends body to url and returns the status and answer.
func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
