package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/sse"
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

// stream is an open SSE response being parsed in the background.
type stream struct {
	resp     *http.Response
	events   chan sse.Event
	comments chan string
	done     chan error
	cancel   context.CancelFunc
}

// open starts a stream request; path is like "/v1/events?topic=a".
func (g *gateway) open(t *testing.T, path string, header http.Header) *stream {
	t.Helper()
	return openWith(t, http.DefaultClient, g.url+path, header)
}

func openWith(t *testing.T, client *http.Client, url string, header http.Header) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 10000), comments: make(chan string, 10000),
		done: make(chan error, 1), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		close(s.events)
		s.done <- nil
		return s
	}
	r := sse.NewReader(resp.Body)
	r.OnComment(func(text []byte) {
		select {
		case s.comments <- string(text):
		default:
		}
	})
	go func() {
		defer close(s.events)
		for {
			ev, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				s.done <- err
				return
			}
			ev.Data = bytes.Clone(ev.Data)
			s.events <- ev
		}
	}()
	return s
}

// next returns the next event or fails.
func (s *stream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended while waiting for an event")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatalf("no event within %s", waitFor)
	}
	return sse.Event{}
}

// expectData reads len(want) events and checks their data in order.
func (s *stream) expectData(t *testing.T, want ...string) []sse.Event {
	t.Helper()
	evs := make([]sse.Event, 0, len(want))
	for i, w := range want {
		ev := s.next(t)
		if string(ev.Data) != w {
			t.Fatalf("event %d: data %q, want %q (event %q id %q)", i, ev.Data, w, ev.Name, ev.ID)
		}
		evs = append(evs, ev)
	}
	return evs
}

// expectEnd waits until the server ends the stream, with no further event.
func (s *stream) expectEnd(t *testing.T) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("expected the stream to end, got event %q data %q", ev.Name, ev.Data)
		}
	case <-time.After(waitFor):
		t.Fatalf("stream did not end within %s", waitFor)
	}
}

// expectQuiet checks that no event arrives for d.
func (s *stream) expectQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			t.Fatalf("unexpected event %q data %q id %q", ev.Name, ev.Data, ev.ID)
		}
		t.Fatalf("stream ended unexpectedly")
	case <-time.After(d):
	}
}

func lastEventID(id string) http.Header { return http.Header{"Last-Event-Id": {id}} }
