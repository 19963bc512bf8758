package redis

import (
	"context"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testserver"
)

// recSink records delivered events and Resync calls.
type recSink struct {
	mu      sync.Mutex
	events  []herald.Event
	resyncs int
	notify  chan struct{}
}

func newSink() *recSink { return &recSink{notify: make(chan struct{}, 1)} }

func (s *recSink) Deliver(ev *herald.Event) {
	s.mu.Lock()
	c := *ev
	c.Data = append([]byte(nil), ev.Data...)
	s.events = append(s.events, c)
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) Resync() {
	s.mu.Lock()
	s.resyncs++
	s.mu.Unlock()
	s.poke()
}

func (s *recSink) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *recSink) snapshot() ([]herald.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]herald.Event(nil), s.events...), s.resyncs
}

// waitFor polls cond until it holds or 10 s pass.
func (s *recSink) waitFor(t testing.TB, what string, cond func(evs []herald.Event, resyncs int) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		evs, rs := s.snapshot()
		if cond(evs, rs) {
			return
		}
		select {
		case <-s.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s: have %d events, %d resyncs", what, len(evs), rs)
		}
	}
}

func newTestEngine(t testing.TB, url string, opts Options) (*Engine, *recSink) {
	t.Helper()
	opts.URL = url
	if opts.HealthCheckInterval == 0 {
		opts.HealthCheckInterval = 500 * time.Millisecond
	}
	ctx := context.Background()
	e, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := newSink()
	if err := e.Start(ctx, s); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, s
}

func rawClient(t testing.TB, srv *testserver.RedisServer) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func msg(topic, name, data string) herald.Message {
	return herald.Message{Topic: herald.Topic(topic), Name: herald.EventName(name), Data: []byte(data)}
}

func publish(t testing.TB, e *Engine, msgs ...herald.Message) []herald.Event {
	t.Helper()
	evs, err := e.Publish(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return evs
}
