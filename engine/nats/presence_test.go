package natsengine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPresenceManyShares writes a node's shares of 5,000 topics and 500 users in one
// UpdatePresence (a node's heartbeat at scale): the writes are pipelined, so this takes a
// fraction of a second where one round trip after another took longer than the store's
// timeout. It then removes them, and recreates the bucket after it was deleted (a
// memory-storage bucket does not survive a server restart).
func TestPresenceManyShares(t *testing.T) {
	srv := testserver.NATS(t)
	e, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage})
	store := e.Presence()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const topics, users = 5000, 500
	u := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{}, Users: map[string]int{}}
	for i := range topics {
		u.Topics[herald.Topic(fmt.Sprintf("many:%d", i))] = map[string]int{fmt.Sprintf("user%d", i%users): 1, "": 2}
	}
	for i := range users {
		u.Users[fmt.Sprintf("user%d", i)] = topics / users
	}
	start := time.Now()
	if err := store.UpdatePresence(ctx, "node-a", u, time.Minute); err != nil {
		t.Fatalf("UpdatePresence of %d shares: %v", topics+users, err)
	}
	t.Logf("%d shares written in %v", topics+users, time.Since(start))
	for _, i := range []int{0, 1234, topics - 1} {
		tp, err := store.TopicPresence(ctx, herald.Topic(fmt.Sprintf("many:%d", i)))
		if err != nil || tp.Connections != 3 || tp.Users[fmt.Sprintf("user%d", i%users)] != 1 {
			t.Fatalf("topic many:%d: %+v, %v", i, tp, err)
		}
	}
	if n, err := store.UserPresence(ctx, "user7"); err != nil || n != topics/users {
		t.Fatalf("user7: %d, %v", n, err)
	}

	// Remove every share.
	gone := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{}, Users: map[string]int{}}
	for topic := range u.Topics {
		gone.Topics[topic] = nil
	}
	for user := range u.Users {
		gone.Users[user] = 0
	}
	if err := store.UpdatePresence(ctx, "node-a", gone, time.Minute); err != nil {
		t.Fatalf("removing: %v", err)
	}
	if tp, err := store.TopicPresence(ctx, "many:1234"); err != nil || tp.Connections != 0 {
		t.Fatalf("after removal: %+v, %v", tp, err)
	}
	if n, err := store.UserPresence(ctx, "user7"); err != nil || n != 0 {
		t.Fatalf("user7 after removal: %d, %v", n, err)
	}

	// The bucket disappears: a write may fail once, and the next one recreates it.
	_, js := jsClient(t, srv.URL())
	if err := js.DeleteKeyValue(ctx, DefaultPrefix+"_presence"); err != nil {
		t.Fatal(err)
	}
	one := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{"many:again": {"": 1}}}
	_ = store.UpdatePresence(ctx, "node-a", one, time.Minute)
	if err := store.UpdatePresence(ctx, "node-a", one, time.Minute); err != nil {
		t.Fatalf("write after the bucket was deleted: %v", err)
	}
	if tp, err := store.TopicPresence(ctx, "many:again"); err != nil || tp.Connections != 1 {
		t.Fatalf("after recreation: %+v, %v", tp, err)
	}
}

// TestPrimedHeadGoesStale: History primes this node's head cache with what it read, so the
// node's next publish to the topic skips reading the head. When another node appends in
// between, that guess is stale: JetStream refuses the publish on the expected sequence and
// the engine rereads the head, so the event still follows the other node's in one chain.
func TestPrimedHeadGoesStale(t *testing.T) {
	srv := testserver.NATS(t)
	a := newEngine(t, srv.URL(), nil)
	b := newEngine(t, srv.URL(), nil)
	ctx := t.Context()
	const topic herald.Topic = "prime:x"
	if h, err := a.History(ctx, topic, 0, 10); err != nil || h.State.Last != 0 {
		t.Fatalf("History of a new topic: %+v, %v", h, err)
	}
	evB, err := b.Publish(ctx, []herald.Message{{Topic: topic, Data: []byte(`1`)}, {Topic: topic, Data: []byte(`2`)}})
	if err != nil {
		t.Fatal(err)
	}
	evA, err := a.Publish(ctx, []herald.Message{{Topic: topic, Data: []byte(`3`)}})
	if err != nil {
		t.Fatalf("publish on the node with the stale primed head: %v", err)
	}
	if got, want := evA[0].Prev, evB[1].Seq; got != want || evA[0].Epoch != evB[1].Epoch {
		t.Fatalf("event after the other node's: prev %d epoch %q, want prev %d epoch %q",
			got, evA[0].Epoch, want, evB[1].Epoch)
	}
	// And a primed head that is right is used as is.
	if _, err := b.History(ctx, topic, 0, 10); err != nil {
		t.Fatal(err)
	}
	evB2, err := b.Publish(ctx, []herald.Message{{Topic: topic, Data: []byte(`4`)}})
	if err != nil || evB2[0].Prev != evA[0].Seq {
		t.Fatalf("publish after priming: %+v, %v (want prev %d)", evB2, err, evA[0].Seq)
	}
	h, err := a.History(ctx, topic, 0, 10)
	if err != nil || len(h.Events) != 4 {
		t.Fatalf("history: %d events, %v", len(h.Events), err)
	}
	for i, ev := range h.Events {
		if string(ev.Data) != fmt.Sprint(i+1) || (i > 0 && ev.Prev != h.Events[i-1].Seq) {
			t.Fatalf("history event %d: %+v", i, ev)
		}
	}
}

// TestPresenceReadsByNode: once a node's watch of the node markers is up, reads are direct
// gets of the known nodes' keys (no watch per read), they see another node's shares and
// their removal, and a node that stops writing drops out when its shares expire.
func TestPresenceReadsByNode(t *testing.T) {
	srv := testserver.NATS(t)
	a, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage})
	b, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage})
	ctx := t.Context()
	const ttl = time.Second
	share := func(e *Engine, node string, users map[string]int) {
		t.Helper()
		u := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{"node:t": users}, Users: map[string]int{"ann": len(users)}}
		if err := e.Presence().UpdatePresence(ctx, node, u, ttl); err != nil {
			t.Fatal(err)
		}
	}
	connections := func() int {
		t.Helper()
		tp, err := a.Presence().TopicPresence(ctx, "node:t")
		if err != nil {
			t.Fatal(err)
		}
		return tp.Connections
	}
	share(b, "node-b", map[string]int{"ann": 2})
	share(a, "node-a", map[string]int{"": 1})
	deadline := time.Now().Add(5 * time.Second)
	for connections() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("node-a does not see both shares: %d connections", connections())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// From now on every read is by node.
	slow := a.presence.slowReads.Load()
	for range 20 {
		if n := connections(); n != 3 {
			t.Fatalf("%d connections, want 3", n)
		}
	}
	if n, err := a.Presence().UserPresence(ctx, "ann"); err != nil || n != 2 {
		t.Fatalf("user ann: %d, %v", n, err)
	}
	if d := a.presence.slowReads.Load() - slow; d != 0 {
		t.Fatalf("%d of 21 reads watched the keys instead of asking the nodes", d)
	}
	// node-b removes its share; then node-a stops writing and its share expires.
	share(b, "node-b", nil)
	if n := connections(); n != 1 {
		t.Fatalf("after node-b's removal: %d connections, want 1", n)
	}
	time.Sleep(ttl + 500*time.Millisecond)
	if n := connections(); n != 0 {
		t.Fatalf("after the TTL: %d connections, want 0", n)
	}
}
