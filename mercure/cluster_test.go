package mercure_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/server"
)

// TestClusterRedis: three Herald nodes over one real redis-server.
func TestClusterRedis(t *testing.T) { clusterScenario(t, redisBroker(t)) }

// TestClusterNATS: three Herald nodes over one real nats-server with JetStream.
func TestClusterNATS(t *testing.T) { clusterScenario(t, natsBroker(t)) }

// redisBroker starts a real redis-server for Herald nodes.
func redisBroker(t *testing.T) clustertest.Broker {
	rs := testserver.Redis(t)
	return clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
		e, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), Retention: cfg.Retention})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}}
}

// natsBroker starts a real nats-server with JetStream for Herald nodes.
func natsBroker(t *testing.T) clustertest.Broker {
	ns := testserver.NATS(t)
	return clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
		e, err := natsengine.New(context.Background(), natsengine.Options{URL: ns.URL(), Retention: cfg.Retention})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}}
}

// clusterScenario: updates published on one node reach subscribers on the others (private
// ones only where allowed), and a subscriber that reconnects to another node with its
// Last-Event-ID gets exactly the updates it missed — also on a node that started after
// those updates were published.
func clusterScenario(t *testing.T, b clustertest.Broker) {
	cfg := server.Config{Mercure: mercureConfig(), Drain: 100 * time.Millisecond}
	nodes := clustertest.StartNodes(t, b, 3, cfg)
	books := "https://example.com/books/{id}"
	privHdr := http.Header{"Authorization": {"Bearer " + token(t, subKey, map[string]any{"subscribe": []string{books}})}}

	s0 := subscribe(t, nodes[0].URL, form("topic", books), privHdr)
	s2 := subscribe(t, nodes[2].URL, form("topic", "*"), nil)

	var ids []string
	pub := func(n int, private bool, topic, data string) string {
		f := form("topic", topic, "data", data)
		if private {
			f.Set("private", "on")
		}
		id := mustPublish(t, nodes[n].URL, f)
		ids = append(ids, id)
		return id
	}
	u1 := pub(1, false, "https://example.com/books/1", "u1")
	u2 := pub(1, true, "https://example.com/books/2", "u2")
	u3 := pub(2, false, "https://example.com/authors/3", "u3")
	u4 := pub(0, false, "https://example.com/books/4", "u4")

	s0.nextIs(t, u1)
	s0.nextIs(t, u2)
	s2.nextIs(t, u1)
	s2.nextIs(t, u3) // the private u2 is not for an anonymous subscriber
	s2.nextIs(t, u4)
	s0.nextIs(t, u4)
	s0.cancel()

	// Missed while away, published on different nodes.
	u5 := pub(1, true, "https://example.com/books/5", "u5")
	u6 := pub(2, false, "https://example.com/authors/6", "u6")
	u7 := pub(0, false, "https://example.com/books/7", "u7")

	// Reconnect to another node with the last id seen: exactly u5 and u7, then live.
	r := subscribe(t, nodes[2].URL, form("topic", books), http.Header{
		"Authorization": privHdr["Authorization"], "Last-Event-Id": {u4}})
	// The header names the newest update this node had seen when the stream opened.
	if got := r.resp.Header.Get("Last-Event-ID"); !slices.Contains(ids[3:], got) {
		t.Errorf("Last-Event-ID %q, want one of the newest %q", got, ids[3:])
	}
	r.nextIs(t, u5)
	r.nextIs(t, u7)
	u8 := pub(1, false, "https://example.com/books/8", "u8")
	r.nextIs(t, u8)

	// A node that starts now learns the ids it never saw live from the log's history.
	late := clustertest.StartNodes(t, b, 1, cfg)[0]
	l := subscribe(t, late.URL, form("topic", "*"), http.Header{"Last-Event-Id": {u2}})
	for _, id := range []string{u3, u4, u6, u7, u8} { // not the private u5
		l.nextIs(t, id)
	}
	u9 := pub(2, false, "https://example.com/x", "u9")
	l.nextIs(t, u9)
}

// TestLogEpochChange: when the log's history expires while idle (Redis forgets the topic and
// the next update starts a new epoch), live subscribers still get that update, and later
// ones, in order.
func TestLogEpochChange(t *testing.T) {
	mc := mercureConfig()
	mc.HistoryTTL = 300 * time.Millisecond
	cfg := server.Config{Mercure: mc, Drain: 100 * time.Millisecond}
	rs := testserver.Redis(t)
	eng, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), Retention: cfg.Retention})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	n := clustertest.StartNodes(t, clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
		e, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), Retention: cfg.Retention})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}}, 1, cfg)[0]
	s := subscribe(t, n.URL, form("topic", "*"), nil)
	u1 := mustPublish(t, n.URL, form("topic", "a", "data", "1"))
	s.nextIs(t, u1)
	// Wait until Redis has forgotten the log (its TTL passed with no update).
	for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
		h, err := eng.History(context.Background(), mercure.LogTopic, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if h.State.Epoch == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log did not expire")
		}
	}
	u2 := mustPublish(t, n.URL, form("topic", "a", "data", "2"))
	u3 := mustPublish(t, n.URL, form("topic", "a", "data", "3"))
	s.nextIs(t, u2)
	s.nextIs(t, u3)
}
