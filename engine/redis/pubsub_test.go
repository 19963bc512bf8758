package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testserver"
)

// TestInterestBasedFanout shows that a node subscribes a topic's channel only while it has
// subscribers (PUBSUB NUMSUB), and that a node without subscribers receives nothing.
func TestInterestBasedFanout(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	a, sinkA := newTestEngine(t, srv.URL(), Options{})
	b, sinkB := newTestEngine(t, srv.URL(), Options{})
	_, sinkC := newTestEngine(t, srv.URL(), Options{})
	rc := rawClient(t, srv)
	ch := topicKeys(DefaultPrefix, "room:{1}").channel
	numsub := func() int64 { return rc.PubSubNumSub(ctx, ch).Val()[ch] }

	if n := numsub(); n != 0 {
		t.Fatalf("NUMSUB before Subscribe = %d", n)
	}
	if err := b.Subscribe(ctx, "room:{1}"); err != nil {
		t.Fatal(err)
	}
	if n := numsub(); n != 1 {
		t.Fatalf("NUMSUB after one Subscribe = %d", n)
	}
	publish(t, a, msg("room:{1}", "e", "1"), msg("room:{1}", "e", "2"))
	sinkB.waitFor(t, "two events on B", func(evs []herald.Event, _ int) bool { return len(evs) == 2 })
	if err := b.Unsubscribe(ctx, "room:{1}"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for numsub() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := numsub(); n != 0 {
		t.Fatalf("NUMSUB after Unsubscribe = %d", n)
	}
	publish(t, a, msg("room:{1}", "e", "3"))
	time.Sleep(100 * time.Millisecond)
	for name, s := range map[string]*recSink{"A (publisher)": sinkA, "B (unsubscribed)": sinkB, "C (never)": sinkC} {
		want := 0
		if s == sinkB {
			want = 2
		}
		if evs, _ := s.snapshot(); len(evs) != want {
			t.Errorf("node %s received %d events, want %d", name, len(evs), want)
		}
	}
}

// TestRedisRestartMidStream kills redis-server while a topic is live: publishes fail with
// ErrEngineUnavailable (never accepted-then-lost) and Ping fails; after the restart the engine
// resubscribes, calls Resync once, and live delivery continues in a new epoch (the server
// has no persistence, so history is gone and the epoch tells cursors so).
func TestRedisRestartMidStream(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	pub, _ := newTestEngine(t, srv.URL(), Options{})
	sub, sink := newTestEngine(t, srv.URL(), Options{})
	if err := sub.Subscribe(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	before := publish(t, pub, msg("live", "", "1"), msg("live", "", "2"))
	sink.waitFor(t, "events before the crash", func(evs []herald.Event, _ int) bool { return len(evs) == 2 })

	srv.Kill()
	for i := range 3 {
		_, err := pub.Publish(ctx, []herald.Message{msg("live", "", fmt.Sprint("down", i))})
		if !errors.Is(err, herald.ErrEngineUnavailable) {
			t.Fatalf("publish while down: %v; want ErrEngineUnavailable", err)
		}
	}
	if err := pub.Ping(ctx); !errors.Is(err, herald.ErrEngineUnavailable) {
		t.Fatalf("Ping while down: %v", err)
	}
	if _, err := pub.History(ctx, "live", 0, 10000); !errors.Is(err, herald.ErrEngineUnavailable) {
		t.Fatalf("History while down: %v", err)
	}
	if err := sub.Subscribe(ctx, "other"); !errors.Is(err, herald.ErrEngineUnavailable) {
		t.Fatalf("Subscribe while down: %v", err)
	}

	srv.Start()
	sink.waitFor(t, "Resync after restart", func(_ []herald.Event, rs int) bool { return rs >= 1 })
	if err := pub.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	after := publish(t, pub, msg("live", "", "3"), msg("other", "", "o"))
	if after[0].Epoch == before[0].Epoch || after[0].Seq != 1 {
		t.Errorf("after restart without persistence: %+v, before %+v", after[0].Position, before[0].Position)
	}
	sink.waitFor(t, "live events after restart (topic subscribed while down too)", func(evs []herald.Event, _ int) bool { return len(evs) == 4 })
	evs, rs := sink.snapshot()
	if rs != 1 {
		t.Errorf("Resync called %d times, want 1", rs)
	}
	if string(evs[2].Data) != "3" || string(evs[3].Data) != "o" {
		t.Errorf("events after restart: %q, %q", evs[2].Data, evs[3].Data)
	}
}

// TestRestartKeepsHistory restarts a Redis that keeps its data (an RDB snapshot on
// shutdown): the epoch survives and history is intact, so cursors resume exactly.
func TestRestartKeepsHistory(t *testing.T) {
	srv := testserver.Redis(t, "--save", "3600 1")
	ctx := context.Background()
	e, sink := newTestEngine(t, srv.URL(), Options{})
	if err := e.Subscribe(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	before := publish(t, e, msg("keep", "", "1"))
	srv.Stop() // SIGTERM: redis-server saves the snapshot
	srv.Start()
	sink.waitFor(t, "Resync", func(_ []herald.Event, rs int) bool { return rs == 1 })
	after := publish(t, e, msg("keep", "", "2"))
	if after[0].Epoch != before[0].Epoch || after[0].Seq != 2 {
		t.Errorf("after restart with persistence: %+v, before %+v", after[0].Position, before[0].Position)
	}
	h, err := e.History(ctx, "keep", 0, 10000)
	if err != nil || len(h.Events) != 2 {
		t.Fatalf("history after restart: %+v, %v", h, err)
	}
}
