package mercure_test

import (
	"net/http/httptest"
	"sync/atomic"

	"context"
	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/server"
	"time"

	"fmt"
	"github.com/golang-jwt/jwt/v5"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald/mercure"
)

// TestPublishSubscribe: exact, template and "*" selectors, alternates, event type, retry and
// multi-line data reach the subscribers they select, with the publisher's id or the hub's.
func TestPublishSubscribe(t *testing.T) {
	n := newNode(t, mercureConfig())
	exact := subscribe(t, n.url, form("topic", "https://example.com/books/1"), nil)
	tmpl := subscribe(t, n.url, form("topic", "https://example.com/books/{id}", "topic", "https://example.com/users/{u}/books/{b}"), nil)
	all := subscribe(t, n.url, form("topic", "*"), nil)
	other := subscribe(t, n.url, form("topic", "https://example.com/authors/{id}"), nil)

	id1 := mustPublish(t, n.url, form("topic", "https://example.com/books/1", "data", "one", "id", "book-1", "type", "created"))
	if id1 != "book-1" {
		t.Fatalf("publisher's id answered as %q", id1)
	}
	id2 := mustPublish(t, n.url, form("topic", "https://example.com/books/2", "data", "line1\nline2\r\nline3"))
	if !strings.HasPrefix(id2, "urn:uuid:") || len(id2) != len("urn:uuid:")+36 || id2[len("urn:uuid:")+14] != '7' {
		t.Fatalf("generated id %q is not urn:uuid: + a UUID v7", id2)
	}
	// Canonical topic matches nothing, an alternate matches the two-variable template.
	id3 := mustPublish(t, n.url, form("topic", "https://example.com/reviews/9", "topic", "https://example.com/users/7/books/3", "data", "alt", "retry", "1500"))
	marker := mustPublish(t, n.url, form("topic", "https://example.com/authors/1", "data", "marker"))

	ev := exact.nextIs(t, id1)
	if ev.Name != "created" || string(ev.Data) != "one" {
		t.Fatalf("exact got %s %q", ev.Name, ev.Data)
	}
	tmpl.nextIs(t, id1)
	if ev := tmpl.nextIs(t, id2); string(ev.Data) != "line1\nline2\nline3" {
		t.Fatalf("multi-line data arrived as %q", ev.Data)
	}
	if ev := tmpl.nextIs(t, id3); ev.Retry != 1500*time.Millisecond {
		t.Fatalf("retry %v, want 1.5s", ev.Retry)
	}
	for _, id := range []string{id1, id2, id3, marker} {
		all.nextIs(t, id)
	}
	other.nextIs(t, marker)
	// exact saw nothing after id1 but the marker is not for it: publish one for it.
	last := mustPublish(t, n.url, form("topic", "https://example.com/books/1", "data", "again"))
	exact.nextIs(t, last)
}

// TestSubscribeHeaders: the headers the reference hub sends, and Last-Event-ID echoing the
// newest update when the client sent one ("earliest" when the log is empty).
func TestSubscribeHeaders(t *testing.T) {
	n := newNode(t, mercureConfig())
	s := subscribe(t, n.url, form("topic", "x", "lastEventID", "nope"), nil)
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "private, no-cache, no-store, must-revalidate, max-age=0",
		"X-Accel-Buffering": "no",
		"Last-Event-Id":     "earliest",
	}
	for k, v := range want {
		if got := s.resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	id := mustPublish(t, n.url, form("topic", "x", "data", "d"))
	s2 := subscribe(t, n.url, form("topic", "x"), http.Header{"Last-Event-Id": {"unknown"}})
	if got := s2.resp.Header.Get("Last-Event-ID"); got != id {
		t.Errorf("Last-Event-ID %q, want the newest id %q", got, id)
	}
	s3 := subscribe(t, n.url, form("topic", "x"), nil)
	if got, ok := s3.resp.Header["Last-Event-Id"]; ok {
		t.Errorf("Last-Event-ID %q sent without a requested one", got)
	}
}

// TestPrivateUpdates: a private update reaches only subscribers whose mercure.subscribe
// selects one of its topics.
func TestPrivateUpdates(t *testing.T) {
	n := newNode(t, mercureConfig())
	auth := func(claim map[string]any) http.Header {
		return http.Header{"Authorization": {"Bearer " + token(t, subKey, claim)}}
	}
	anon := subscribe(t, n.url, form("topic", "*"), nil)
	allowed := subscribe(t, n.url, form("topic", "https://example.com/books/{id}"),
		auth(map[string]any{"subscribe": []string{"https://example.com/books/{id}"}}))
	wrong := subscribe(t, n.url, form("topic", "https://example.com/books/{id}"),
		auth(map[string]any{"subscribe": []string{"https://example.com/authors/{id}"}}))
	viaAlt := subscribe(t, n.url, form("topic", "https://example.com/books/1"),
		auth(map[string]any{"subscribe": []string{"https://example.com/users/42"}}))
	q := form("topic", "https://example.com/books/1")
	q.Set("authorization", token(t, subKey, map[string]any{"subscribe": []string{"*"}}))
	byQuery := subscribe(t, n.url, q, nil)

	priv := mustPublish(t, n.url, form("topic", "https://example.com/books/1", "topic", "https://example.com/users/42", "data", "secret", "private", ""))
	pub := mustPublish(t, n.url, form("topic", "https://example.com/books/1", "data", "public"))

	allowed.nextIs(t, priv)
	allowed.nextIs(t, pub)
	viaAlt.nextIs(t, priv)
	byQuery.nextIs(t, priv)
	anon.nextIs(t, pub)
	wrong.nextIs(t, pub)
}

// TestResume: Last-Event-ID (header, lastEventID, legacy Last-Event-ID query) replays the
// matching updates after it; earliest replays all; an unknown id replays nothing (with
// Reset, Herald's event: reset first).
func TestResume(t *testing.T) {
	type tc struct {
		name  string
		query func(ids []string) (url.Values, http.Header)
		want  func(ids []string) []string
	}
	cases := []tc{
		{"header", func(ids []string) (url.Values, http.Header) {
			return form("topic", "a"), http.Header{"Last-Event-Id": {ids[0]}}
		}, func(ids []string) []string { return ids[2:] }},
		{"query", func(ids []string) (url.Values, http.Header) {
			return form("topic", "a", "lastEventID", ids[2]), nil
		}, func(ids []string) []string { return ids[3:] }},
		{"legacy query", func(ids []string) (url.Values, http.Header) {
			return form("topic", "*", "Last-Event-ID", ids[1]), nil
		}, func(ids []string) []string { return ids[2:] }},
		{"earliest", func(ids []string) (url.Values, http.Header) {
			return form("topic", "a", "lastEventID", "earliest"), nil
		}, func(ids []string) []string { return []string{ids[0], ids[2], ids[3]} }},
		{"unknown", func(ids []string) (url.Values, http.Header) {
			return form("topic", "a", "lastEventID", "urn:uuid:gone"), nil
		}, func(ids []string) []string { return nil }},
	}
	for _, reset := range []bool{false, true} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/reset=%v", c.name, reset), func(t *testing.T) {
				mc := mercureConfig()
				mc.Reset = reset
				n := newNode(t, mc)
				var ids []string
				for i, topic := range []string{"a", "b", "a", "a"} {
					ids = append(ids, mustPublish(t, n.url, form("topic", topic, "data", strconv.Itoa(i))))
				}
				q, hdr := c.query(ids)
				s := subscribe(t, n.url, q, hdr)
				if got := s.resp.Header.Get("Last-Event-ID"); got != ids[3] {
					t.Errorf("Last-Event-ID %q, want %q", got, ids[3])
				}
				if c.name == "unknown" && reset {
					if ev := s.next(t); ev.Name != "reset" {
						t.Fatalf("want event: reset for an unknown id, got %s %q", ev.Name, ev.Data)
					}
				}
				for _, id := range c.want(ids) {
					s.nextIs(t, id)
				}
				live := mustPublish(t, n.url, form("topic", "a", "data", "live"))
				s.nextIs(t, live)
			})
		}
	}
}

// TestV1CannotReadTheLog: the log topic carries private updates; /v1/events refuses it.
func TestV1CannotReadTheLog(t *testing.T) {
	n := newNode(t, mercureConfig())
	resp, err := http.Get(n.url + "/v1/events?topic=" + url.QueryEscape(string(mercure.LogTopic)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

// TestTokenExpiryEndsStream: a subscriber's stream ends when its token expires.
func TestTokenExpiryEndsStream(t *testing.T) {
	n := newNode(t, mercureConfig())
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"exp": time.Now().Add(time.Second).Unix(), "mercure": map[string]any{"subscribe": []string{"*"}},
	}).SignedString([]byte(subKey))
	s := subscribe(t, n.url, form("topic", "x"), http.Header{"Authorization": {"Bearer " + tok}})
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(waitFor):
		t.Fatal("stream still open after its token expired")
	}
}

// TestDrainEndsStreams: Drain ends every Mercure stream and returns.
func TestDrainEndsStreams(t *testing.T) {
	n := newNode(t, mercureConfig())
	s := subscribe(t, n.url, form("topic", "x"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	n.srv.Drain(ctx)
	if got := n.srv.Mercure().Subscribers(); got != 0 {
		t.Fatalf("%d subscribers after Drain", got)
	}
	// A subscriber arriving at a draining node gets an empty 200 stream (EventSource then
	// reconnects, to another node), not a 503 (which would stop it for good).
	late := subscribe(t, n.url, form("topic", "x"), nil)
	if late.resp.StatusCode != http.StatusOK {
		t.Fatalf("subscribe while draining: %d, want 200", late.resp.StatusCode)
	}
	select {
	case _, ok := <-late.events:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(waitFor):
		t.Fatal("stream of a draining node stayed open")
	}
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(waitFor):
		t.Fatal("stream still open after Drain")
	}
}

// TestLogRetention: the log keeps --mercure-history-size updates (not the 10 events of
// Herald's own herald: topics), so a resume from the oldest retained id replays the rest,
// and an id trimmed out of it resumes from now.
func TestLogRetention(t *testing.T) {
	mc := mercureConfig()
	mc.HistorySize = 25
	n := newNode(t, mc)
	var ids []string
	for i := range 30 {
		ids = append(ids, mustPublish(t, n.url, form("topic", "t", "data", strconv.Itoa(i))))
	}
	s := subscribe(t, n.url, form("topic", "t"), http.Header{"Last-Event-Id": {ids[5]}})
	for _, id := range ids[6:] {
		s.nextIs(t, id)
	}
	gone := subscribe(t, n.url, form("topic", "t"), http.Header{"Last-Event-Id": {ids[2]}})
	live := mustPublish(t, n.url, form("topic", "t", "data", "live"))
	gone.nextIs(t, live)
}

// downEngine refuses Subscribe while down: the node cannot follow the log.
type downEngine struct {
	herald.Engine
	down atomic.Bool
}

func (e *downEngine) Subscribe(ctx context.Context, topic herald.Topic) error {
	if e.down.Load() {
		return herald.ErrEngineUnavailable
	}
	return e.Engine.Subscribe(ctx, topic)
}

// TestEngineDownAtStart: while the node cannot follow the log, a subscribe is answered 200
// with the comment at once (an EventSource would give up for good on a 503) and waits; once
// the engine is back, updates flow.
func TestEngineDownAtStart(t *testing.T) {
	cfg := server.Config{Mercure: mercureConfig(), Drain: 100 * time.Millisecond}
	mem := memory.New(memory.Options{Retention: cfg.Retention})
	eng := &downEngine{Engine: mem}
	eng.down.Store(true)
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); ts.CloseClientConnections(); ts.Close(); mem.Close() })

	s := subscribe(t, ts.URL, form("topic", "t"), nil) // fails unless 200 and ":" arrive
	eng.down.Store(false)
	published := map[string]bool{}
	for deadline := time.Now().Add(waitFor); ; {
		published[mustPublish(t, ts.URL, form("topic", "t", "data", "x"))] = true
		select {
		case ev := <-s.events:
			if !published[ev.ID] {
				t.Fatalf("got %q, not one of the published ids", ev.ID)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no update after the engine came back")
		}
	}
}
