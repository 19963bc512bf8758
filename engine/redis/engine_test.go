package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testserver"
)

func TestPublishHistory(t *testing.T) {
	srv := testserver.Redis(t)
	e, _ := newTestEngine(t, srv.URL(), Options{})
	ctx := context.Background()

	evs := publish(t, e, msg("t:1", "a", "one"), msg("t:1", "b", "two\nlines"), msg("t:2", "", "x"), msg("t:1", "c", ""))
	if !herald.ValidEpoch(evs[0].Epoch) || len(evs[0].Epoch) != 8 {
		t.Fatalf("bad epoch %q", evs[0].Epoch)
	}
	for i, want := range []uint64{1, 2, 1, 3} {
		if evs[i].Seq != want || evs[i].Prev != want-1 {
			t.Errorf("event %d: seq %d prev %d, want %d", i, evs[i].Seq, evs[i].Prev, want)
		}
	}
	tests := []struct {
		after uint64
		limit int
		want  []string
	}{
		{0, 100, []string{"one", "two\nlines", ""}},
		{1, 100, []string{"two\nlines", ""}},
		{0, 2, []string{"one", "two\nlines"}},
		{3, 10, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after%d-limit%d", tt.after, tt.limit), func(t *testing.T) {
			h, err := e.History(ctx, "t:1", tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if h.State != (herald.TopicState{Epoch: evs[0].Epoch, First: 1, Last: 3}) {
				t.Errorf("state %+v", h.State)
			}
			if len(h.Events) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(h.Events), len(tt.want))
			}
			for i, ev := range h.Events {
				if string(ev.Data) != tt.want[i] || ev.Seq != tt.after+uint64(i)+1 || ev.Prev != ev.Seq-1 || ev.Topic != "t:1" || ev.Time == 0 {
					t.Errorf("event %d: %+v", i, ev)
				}
			}
		})
	}
	h, err := e.History(ctx, "never", 0, 10)
	if err != nil || len(h.Events) != 0 || h.State != (herald.TopicState{}) {
		t.Errorf("History(never) = %+v, %v", h, err)
	}
}

func TestFinalClosesTopic(t *testing.T) {
	srv := testserver.Redis(t)
	e, _ := newTestEngine(t, srv.URL(), Options{})
	fin := msg("job:1", "done", "ok")
	fin.Final = true
	_, err := e.Publish(context.Background(), []herald.Message{msg("job:1", "a", ""), fin, msg("job:1", "late", "")})
	var pe *herald.PublishError
	if !errors.As(err, &pe) || pe.Published != 2 || !errors.Is(err, herald.ErrTopicClosed) {
		t.Fatalf("Publish = %v; want PublishError{2, ErrTopicClosed}", err)
	}
	h, _ := e.History(context.Background(), "job:1", 0, 10000)
	if !h.State.Closed || h.State.Last != 2 || len(h.Events) != 2 || !h.Events[1].Final {
		t.Errorf("history %+v", h)
	}
}

func TestDedupKey(t *testing.T) {
	srv := testserver.Redis(t)
	e, _ := newTestEngine(t, srv.URL(), Options{Retention: func(herald.Topic) herald.Retention { return herald.Retention{Size: 2} }})
	m := msg("d", "x", "first")
	m.DedupKey = "k1"
	a := publish(t, e, m)[0]
	m.Data = []byte("second")
	b := publish(t, e, m)[0]
	if a.Seq != b.Seq || string(b.Data) != "first" {
		t.Errorf("dedup: first %+v, second %+v", a, b)
	}
	publish(t, e, msg("d", "", "2"), msg("d", "", "3"), msg("d", "", "4"))
	c := publish(t, e, m)[0] // trimmed from history but still remembered
	if c.Seq != 1 {
		t.Errorf("dedup after trim: seq %d", c.Seq)
	}
	h, _ := e.History(context.Background(), "d", 0, 10000)
	if h.State.Last != 4 || h.State.First != 3 || len(h.Events) != 2 {
		t.Errorf("history state %+v, %d events", h.State, len(h.Events))
	}
}

func TestRetentionTTLAndEpoch(t *testing.T) {
	srv := testserver.Redis(t)
	ttl := 300 * time.Millisecond
	e, _ := newTestEngine(t, srv.URL(), Options{Retention: func(herald.Topic) herald.Retention { return herald.Retention{TTL: ttl} }})
	ctx := context.Background()
	first := publish(t, e, msg("ttl", "", "old"))[0]
	time.Sleep(ttl / 2)
	publish(t, e, msg("ttl", "", "new"))
	time.Sleep(ttl/2 + 50*time.Millisecond)
	h, err := e.History(ctx, "ttl", 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 1 || string(h.Events[0].Data) != "new" || h.State.First != 2 || h.State.Epoch != first.Epoch {
		t.Fatalf("after first expiry: %+v", h)
	}
	time.Sleep(ttl)
	h, _ = e.History(ctx, "ttl", 0, 10000)
	if h.State.Epoch != "" || len(h.Events) != 0 {
		t.Fatalf("idle topic not forgotten: %+v", h)
	}
	again := publish(t, e, msg("ttl", "", "again"))[0]
	if again.Seq != 1 || again.Epoch == first.Epoch {
		t.Errorf("after expiry: %+v (old epoch %s)", again.Position, first.Epoch)
	}
}

func TestFlushAllStartsNewEpoch(t *testing.T) {
	srv := testserver.Redis(t)
	e, _ := newTestEngine(t, srv.URL(), Options{})
	a := publish(t, e, msg("f", "", "1"), msg("f", "", "2"))[1]
	if err := rawClient(t, srv).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	b := publish(t, e, msg("f", "", "3"))[0]
	if b.Epoch == a.Epoch || b.Seq != 1 {
		t.Errorf("after FLUSHALL: %+v, before %+v", b.Position, a.Position)
	}
}

func TestKeysInjective(t *testing.T) {
	topics := []string{"a}b", "a%7Db", "a{b", "a%7Bb", "a%b", "a%25b", "{x}", "%7Bx%7D", "a:b*"}
	seen := map[string]string{}
	for _, tp := range topics {
		k := topicKeys("herald", tp)
		if prev, dup := seen[k.channel]; dup {
			t.Errorf("%q and %q share channel %q", prev, tp, k.channel)
		}
		seen[k.channel] = tp
		if got, ok := channelTopic("herald", k.channel); !ok || got != tp {
			t.Errorf("channelTopic(%q) = %q, %v; want %q", k.channel, got, ok, tp)
		}
	}
}

func TestConcurrentPublishOrder(t *testing.T) {
	srv := testserver.Redis(t)
	a, _ := newTestEngine(t, srv.URL(), Options{})
	b, sink := newTestEngine(t, srv.URL(), Options{})
	ctx := context.Background()
	if err := b.Subscribe(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := a.Publish(ctx, []herald.Message{msg("c", "", fmt.Sprintf("%d-%d", w, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sink.waitFor(t, "all live events", func(evs []herald.Event, _ int) bool { return len(evs) == writers*each })
	evs, _ := sink.snapshot()
	h, _ := a.History(ctx, "c", 0, 10000)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || string(ev.Data) != string(h.Events[i].Data) {
			t.Fatalf("live event %d: seq %d %q, history %q", i, ev.Seq, ev.Data, h.Events[i].Data)
		}
	}
}
