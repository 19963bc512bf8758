package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// step answers one request of a scripted exchange and may check it.
type step func(t *testing.T, w http.ResponseWriter, r *http.Request)

// script serves its steps in order, one per request, and fails the test on a request
// beyond them. These tests pin the SDK's reactions to each kind of answer; the Examples
// and integration tests run it against the real server.
type script struct {
	t     *testing.T
	mu    sync.Mutex
	steps []step
	n     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	if i >= len(s.steps) {
		s.t.Errorf("unexpected request %d: %s", i+1, r.URL)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.steps[i](s.t, w, r)
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func stream(body string) step {
	return func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

func expect(lastEventID, query string, next step) step {
	return func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Last-Event-ID"); got != lastEventID {
			t.Errorf("request %s: Last-Event-ID %q, want %q", r.URL, got, lastEventID)
		}
		if got := r.URL.Query().Get("lastEventID"); got != query {
			t.Errorf("request %s: lastEventID= %q, want %q", r.URL, got, query)
		}
		next(t, w, r)
	}
}

func status(code int, body string) step {
	return func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func collect(t *testing.T, srv *httptest.Server, topics []string, opts ...Option) ([]Message, *Subscriber, error) {
	t.Helper()
	s, err := NewSubscriber(srv.URL, topics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []Message
	err = s.Run(ctx, func(m Message) error {
		got = append(got, m)
		return nil
	})
	return got, s, err
}

func TestSubscriberResumes(t *testing.T) {
	sc := &script{t: t, steps: []step{
		expect("", "", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			if q := r.URL.Query()["topic"]; len(q) != 2 || q[0] != "a" || q[1] != "b:1" {
				t.Errorf("topics %q", q)
			}
			stream(": hello\nretry: 10\n\nid: c-0\n\nid: c-1\nevent: progress\ndata: {\"pct\":1}\n\n")(t, w, r)
		}),
		// A block without data still moves the cursor.
		expect("c-1", "", stream("retry: 10\n\nid: c-2\n\n")),
		// A stream cut inside a block: its id is not taken.
		expect("c-2", "", stream("id: c-3\nevent: reset\ndata: history expired\n\nid: c-4\ndata: x\n")),
		expect("c-3", "", status(http.StatusNoContent, "")),
	}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	got, s, err := collect(t, srv, []string{"a", "b:1"})
	if !errors.Is(err, ErrStreamEnded) {
		t.Fatalf("Run = %v, want ErrStreamEnded", err)
	}
	want := []Message{
		{ID: "c-1", Event: "progress", Data: []byte(`{"pct":1}`)},
		{ID: "c-3", Event: "reset", Data: []byte("history expired"), Reset: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Event != want[i].Event || string(got[i].Data) != string(want[i].Data) || got[i].Reset != want[i].Reset {
			t.Errorf("message %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s.LastEventID() != "c-3" {
		t.Errorf("LastEventID = %q", s.LastEventID())
	}
}

func TestSubscriberStartCursor(t *testing.T) {
	sc := &script{t: t, steps: []step{
		expect("", "earliest", stream("retry: 10\n\n")),     // no id handed out yet: keep asking for earliest
		expect("", "earliest", stream("id: e-9\n\n")),       // the gateway's cursor replaces it
		expect("e-9", "", status(http.StatusNoContent, "")), // header, no query
	}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	_, s, err := collect(t, srv, []string{"a"}, WithLastEventID(Earliest), WithMaxRetryDelay(20*time.Millisecond))
	if !errors.Is(err, ErrStreamEnded) || sc.requests() != 3 {
		t.Fatalf("Run = %v after %d requests", err, sc.requests())
	}
	if s.LastEventID() != "e-9" {
		t.Fatalf("LastEventID = %q", s.LastEventID())
	}
}

func TestSubscriberAnswers(t *testing.T) {
	tests := []struct {
		name     string
		steps    []step
		wantErr  func(error) bool
		requests int
	}{
		{
			name:  "401 is fatal",
			steps: []step{status(401, `{"error":"missing token","code":"unauthorized"}`)},
			wantErr: func(err error) bool {
				var e *Error
				return errors.As(err, &e) && e.Status == 401 && e.Code == "unauthorized"
			},
			requests: 1,
		},
		{
			name:     "400 is fatal",
			steps:    []step{status(400, `{"error":"bad topic","code":"invalid_topic"}`)},
			wantErr:  func(err error) bool { var e *Error; return errors.As(err, &e) && e.Code == "invalid_topic" },
			requests: 1,
		},
		{
			name:     "5xx and 429 are retried",
			steps:    []step{status(503, "busy"), status(429, `{"error":"slow","code":"rate_limited"}`), status(500, ""), status(204, "")},
			wantErr:  func(err error) bool { return errors.Is(err, ErrStreamEnded) },
			requests: 4,
		},
		{
			name:     "not an event stream is fatal",
			steps:    []step{func(t *testing.T, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }},
			wantErr:  func(err error) bool { return err != nil && !errors.Is(err, ErrStreamEnded) },
			requests: 1,
		},
		{
			name:     "clean end after events reconnects at once",
			steps:    []step{stream("retry: 60000\n\nid: 1\ndata: x\n\n"), expect("1", "", status(204, ""))},
			wantErr:  func(err error) bool { return errors.Is(err, ErrStreamEnded) },
			requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &script{t: t, steps: tt.steps}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			start := time.Now()
			_, _, err := collect(t, srv, []string{"a"}, WithMaxRetryDelay(20*time.Millisecond))
			if !tt.wantErr(err) {
				t.Fatalf("Run = %v", err)
			}
			if sc.requests() != tt.requests {
				t.Fatalf("%d requests, want %d", sc.requests(), tt.requests)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestSubscriberIdleTimeout(t *testing.T) {
	sc := &script{t: t, steps: []step{
		func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: 5\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a peer that went silent
		},
		expect("5", "", status(204, "")),
	}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	_, _, err := collect(t, srv, []string{"a"}, WithIdleTimeout(50*time.Millisecond), WithMaxRetryDelay(20*time.Millisecond))
	if !errors.Is(err, ErrStreamEnded) || sc.requests() != 2 {
		t.Fatalf("Run = %v after %d requests", err, sc.requests())
	}
}

func TestSubscriberStops(t *testing.T) {
	hold := func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: one\n\nid: 2\ndata: two\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	t.Run("context", func(t *testing.T) {
		srv := httptest.NewServer(&script{t: t, steps: []step{hold}})
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		err := Subscribe(ctx, srv.URL, []string{"a"}, func(m Message) error {
			if m.ID == "2" {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	})
	t.Run("callback error", func(t *testing.T) {
		srv := httptest.NewServer(&script{t: t, steps: []step{hold}})
		defer srv.Close()
		s, _ := NewSubscriber(srv.URL, []string{"a"})
		boom := errors.New("boom")
		err := s.Run(context.Background(), func(m Message) error {
			if m.ID == "2" {
				return boom
			}
			return nil
		})
		if err != boom {
			t.Fatalf("Run = %v, want fn's error", err)
		}
		if s.LastEventID() != "1" {
			t.Fatalf("LastEventID = %q: the event fn failed on must count as unseen", s.LastEventID())
		}
	})
}

func TestNewSubscriberValidates(t *testing.T) {
	for _, topics := range [][]string{nil, {""}, {"has space"}} {
		if _, err := NewSubscriber("http://127.0.0.1:1", topics); err == nil {
			t.Errorf("NewSubscriber(%q) succeeded", topics)
		}
	}
}

func TestBackoff(t *testing.T) {
	s, _ := NewSubscriber("http://127.0.0.1:1", []string{"a"}, WithMaxRetryDelay(time.Second))
	s.retry = 100 * time.Millisecond
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		if n == 5 {
			n = 1000 // no overflow
		}
		d := s.backoff(n)
		if d < want-want/10 || d > want+want/10 {
			t.Errorf("backoff(%d) = %v, want %v ±10%%", n, d, want)
		}
	}
}
