package memory

import (
	"maps"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// The presence store sums the nodes' shares of a topic, replaces a node's share on each
// write, removes it on an empty one, and ignores (and drops) a share past its TTL.
func TestPresenceStoreShares(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	store := New(Options{Now: clock.now}).Presence()
	write := func(node string, topics map[herald.Topic]map[string]int, ttl time.Duration) {
		t.Helper()
		if err := store.UpdatePresence(ctx, node, herald.PresenceUpdate{Topics: topics}, ttl); err != nil {
			t.Fatalf("UpdatePresence(%s): %v", node, err)
		}
	}
	const ttl = 10 * time.Second
	steps := []struct {
		name    string
		do      func()
		conns   int
		users   map[string]int
		present bool // the topic still has an entry in the store
	}{
		{"one node, one anonymous stream", func() {
			write("n1", map[herald.Topic]map[string]int{"t": {"": 1}}, ttl)
		}, 1, map[string]int{}, true},
		{"a second node with named users", func() {
			write("n2", map[herald.Topic]map[string]int{"t": {"u1": 2, "u2": 1}}, ttl)
		}, 4, map[string]int{"u1": 2, "u2": 1}, true},
		{"the first node's share is replaced, not added", func() {
			write("n1", map[herald.Topic]map[string]int{"t": {"u1": 1}}, ttl)
		}, 4, map[string]int{"u1": 3, "u2": 1}, true},
		{"a rewrite with fewer users shrinks the share", func() {
			write("n2", map[herald.Topic]map[string]int{"t": {"u2": 1}}, ttl)
		}, 2, map[string]int{"u1": 1, "u2": 1}, true},
		{"an empty share removes the node", func() {
			write("n1", map[herald.Topic]map[string]int{"t": nil}, ttl)
		}, 1, map[string]int{"u2": 1}, true},
		{"a share past its TTL is ignored and dropped", func() {
			write("n3", map[herald.Topic]map[string]int{"t": {"u3": 5}}, 3*ttl)
			clock.advance(ttl)
		}, 5, map[string]int{"u3": 5}, true},
		{"the last share expires: the topic is forgotten", func() {
			clock.advance(2 * ttl)
		}, 0, map[string]int{}, false},
	}
	p := store.(*presenceStore)
	for _, s := range steps {
		s.do()
		tp, err := store.TopicPresence(ctx, "t")
		if err != nil {
			t.Fatalf("%s: TopicPresence: %v", s.name, err)
		}
		if tp.Connections != s.conns || !maps.Equal(tp.Users, s.users) {
			t.Fatalf("%s: presence %d %v, want %d %v", s.name, tp.Connections, tp.Users, s.conns, s.users)
		}
		p.mu.Lock()
		_, present := p.topic["t"]
		p.mu.Unlock()
		if present != s.present {
			t.Fatalf("%s: topic in the store: %v, want %v", s.name, present, s.present)
		}
	}
}
