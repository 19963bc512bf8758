package presence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/presence"
)

type recorder struct {
	mu   sync.Mutex
	msgs []herald.Message
}

func (r *recorder) publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil, nil
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, string(m.Name)+" "+string(m.Data))
	}
	return out
}

// TestTrackerCounts: counts, prompt writes, goodbye, and join/leave only at the edges.
func TestTrackerCounts(t *testing.T) {
	store := memory.New(memory.Options{}).Presence()
	rec := &recorder{}
	tr, err := presence.New(presence.Options{Store: store, Heartbeat: time.Hour,
		Events: func(herald.Topic) bool { return true }, Publish: rec.publish})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	ctx := context.Background()
	topics := []herald.Topic{"a:1", "a:2"}
	tr.Join("u", topics)
	tr.Join("u", topics[:1])
	tr.Join("", topics[:1])
	waitFor(t, func() bool { tp, _ := tr.Topic(ctx, "a:1"); return tp.Connections == 3 })
	if n, _ := tr.User(ctx, "u"); n != 2 {
		t.Fatalf("user connections %d, want 2", n)
	}
	tr.Leave("u", topics[:1])
	waitFor(t, func() bool { tp, _ := tr.Topic(ctx, "a:1"); return tp.Connections == 2 })
	tr.Leave("u", topics)
	waitFor(t, func() bool { tp, _ := tr.Topic(ctx, "a:2"); return tp.Connections == 0 })
	waitFor(t, func() bool { return len(rec.names()) == 4 })
	tr.Close()
	if tp, _ := tr.Topic(ctx, "a:1"); tp.Connections != 0 {
		t.Fatalf("after goodbye %d connections", tp.Connections)
	}
	got := rec.names()
	want := map[string]int{`join {"user":"u"}`: 2, `leave {"user":"u"}`: 2}
	for _, g := range got {
		want[g]--
	}
	for k, v := range want {
		if v != 0 {
			t.Fatalf("events %v: %q off by %d", got, k, v)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 3s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sizeStore records the size of every write that reaches a store.
type sizeStore struct {
	herald.PresenceStore
	mu     sync.Mutex
	writes []int
}

func (s *sizeStore) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	s.mu.Lock()
	s.writes = append(s.writes, len(u.Topics))
	s.mu.Unlock()
	return s.PresenceStore.UpdatePresence(ctx, node, u, ttl)
}

func (s *sizeStore) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.writes...)
}

// TestHeartbeatRewritesEverySharePiecewise: with no joins or leaves for many TTLs, every
// share stays alive, although the heartbeat never rewrites all of them in one write.
func TestHeartbeatRewritesEverySharePiecewise(t *testing.T) {
	const n = 200
	store := &sizeStore{PresenceStore: memory.New(memory.Options{}).Presence()}
	tr, err := presence.New(presence.Options{Store: store, Heartbeat: 100 * time.Millisecond, TTL: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	defer tr.Close()
	ctx := context.Background()
	topics := make([]herald.Topic, n)
	for i := range topics {
		topics[i] = herald.Topic(fmt.Sprintf("p:%d", i))
	}
	tr.Join("u", topics)
	waitFor(t, func() bool { tp, _ := tr.Topic(ctx, topics[n-1]); return tp.Connections == 1 })
	joined := len(store.sizes())
	time.Sleep(time.Second) // five TTLs without a change
	for _, topic := range topics {
		if tp, err := tr.Topic(ctx, topic); err != nil || tp.Connections != 1 || tp.Users["u"] != 1 {
			t.Fatalf("%s after 5 TTLs: %+v, %v", topic, tp, err)
		}
	}
	if c, err := tr.User(ctx, "u"); err != nil || c != 1 {
		t.Fatalf("user u: %d, %v", c, err)
	}
	beats := store.sizes()[joined:]
	if len(beats) < 20 {
		t.Fatalf("%d heartbeat writes in 1s with a 100ms heartbeat, want about 100", len(beats))
	}
	for _, size := range beats {
		if size >= n/2 {
			t.Fatalf("a heartbeat write carried %d of %d shares: %v", size, n, beats)
		}
	}
}
