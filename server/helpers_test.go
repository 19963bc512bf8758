package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/ssetest"
	"github.com/heraldpush/herald/server"
)

const waitFor = 5 * time.Second

// gateway is a real Herald node on a loopback HTTP server.
type gateway struct {
	srv *server.Server
	ts  *httptest.Server
	url string
	eng *memory.Engine
}

func newGateway(t *testing.T, cfg server.Config) *gateway {
	t.Helper()
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	return newGatewayOn(t, cfg, eng)
}

func newGatewayOn(t *testing.T, cfg server.Config, eng *memory.Engine) *gateway {
	t.Helper()
	srv, err := server.New(testConfig(cfg), eng, server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	ts.Start()
	g := &gateway{srv: srv, ts: ts, url: ts.URL, eng: eng}
	t.Cleanup(func() {
		srv.Close()
		ts.CloseClientConnections()
		ts.Close()
		eng.Close()
	})
	return g
}

// post sends a publish body and decodes the JSON answer.
func (g *gateway) post(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(g.url+"/v1/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	var ans map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("publish answer %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, ans
}

// publish publishes one event and returns its id, failing the test on any error.
func (g *gateway) publish(t *testing.T, topic, event string, data any, final bool) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"topic": topic, "event": event, "data": data, "final": final})
	status, ans := g.post(t, string(body))
	if status != http.StatusOK {
		t.Fatalf("publish %s: status %d: %v", body, status, ans)
	}
	id, _ := ans["id"].(string)
	if id == "" {
		t.Fatalf("publish answer has no id: %v", ans)
	}
	return id
}

// stream is an open SSE response being parsed in the background (internal/ssetest).
type stream = ssetest.Stream

// open starts a stream request; path is like "/v1/events?topic=a".
func (g *gateway) open(t *testing.T, path string, header http.Header) *stream {
	t.Helper()
	return openWith(t, http.DefaultClient, g.url+path, header)
}

func openWith(t *testing.T, client *http.Client, url string, header http.Header) *stream {
	t.Helper()
	return ssetest.Open(t, client, url, header, waitFor)
}

func lastEventID(id string) http.Header { return http.Header{"Last-Event-Id": {id}} }
