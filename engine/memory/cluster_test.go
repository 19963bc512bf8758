package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
)

// TestConformanceSharedStore runs the suite's multi-node and wipe checks too, on nodes that
// share one memory Engine as their store. It proves those checks sound before Redis and
// NATS rely on them; production never shares a memory engine between nodes.
func TestConformanceSharedStore(t *testing.T) {
	store := &sharedStore{e: New(Options{}), subs: map[herald.Topic]map[*sharedNode]bool{}}
	if err := store.e.Start(t.Context(), store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.e.Close() })
	var ret atomic.Pointer[herald.RetentionFunc]
	store.e.retention = func(tp herald.Topic) herald.Retention { return (*ret.Load())(tp) }
	enginetest.Run(t, enginetest.Factory{
		New: func(t *testing.T, r herald.RetentionFunc) herald.Engine {
			ret.Store(&r) // topics are unique per subtest, so the latest retention is theirs
			return &sharedNode{store: store}
		},
		MultiNode: true,
		Wipe:      func(*testing.T) { store.e.wipe() },
	})
}

// sharedStore fans the engine's live events out to the nodes subscribed to their topic.
type sharedStore struct {
	e    *Engine
	mu   sync.RWMutex
	subs map[herald.Topic]map[*sharedNode]bool
}

func (s *sharedStore) Deliver(ev *herald.Event) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for n := range s.subs[ev.Topic] {
		n.sink.Deliver(ev)
	}
}

func (s *sharedStore) Resync() {}

// sharedNode is one node over a sharedStore. The store's engine stays subscribed to every
// topic any node ever subscribed to (the lock order shard → store forbids unsubscribing it
// safely here); nodes filter.
type sharedNode struct {
	store  *sharedStore
	sink   herald.Sink
	closed atomic.Bool
}

func (n *sharedNode) check(op string) error {
	if n.closed.Load() {
		return fmt.Errorf("shared node: %s: %w", op, herald.ErrClosed)
	}
	return nil
}

func (n *sharedNode) Start(_ context.Context, sink herald.Sink) error {
	n.sink = sink
	return nil
}

func (n *sharedNode) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if err := n.check("publish"); err != nil {
		return nil, err
	}
	return n.store.e.Publish(ctx, msgs)
}

func (n *sharedNode) History(ctx context.Context, topic herald.Topic, after uint64, limit int) (herald.History, error) {
	if err := n.check("history"); err != nil {
		return herald.History{}, err
	}
	return n.store.e.History(ctx, topic, after, limit)
}

func (n *sharedNode) Subscribe(ctx context.Context, topic herald.Topic) error {
	if err := n.check("subscribe"); err != nil {
		return err
	}
	n.store.mu.Lock()
	if n.store.subs[topic] == nil {
		n.store.subs[topic] = map[*sharedNode]bool{}
	}
	n.store.subs[topic][n] = true
	n.store.mu.Unlock()
	return n.store.e.Subscribe(ctx, topic)
}

func (n *sharedNode) Unsubscribe(_ context.Context, topic herald.Topic) error {
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	delete(n.store.subs[topic], n)
	return nil
}

func (n *sharedNode) Close() error {
	n.closed.Store(true)
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	for _, nodes := range n.store.subs {
		delete(nodes, n)
	}
	return nil
}

// wipe loses all history as a flushed broker would: subscriptions stay, epochs go.
func (e *Engine) wipe() {
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		clear(s.topics) // subscriptions (s.subs) stay
		s.mu.Unlock()
	}
}
