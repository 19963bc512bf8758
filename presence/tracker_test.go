package presence_test

import (
	"context"
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
