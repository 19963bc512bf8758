package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
)

// waitLeader waits until exactly one of engines holds the bridge lease and returns it.
func waitLeader(t *testing.T, engines []*Engine) *Engine {
	t.Helper()
	return engines[clustertest.WaitLeader(t, len(engines), func(i int) bool { return engines[i].bridge.isLeader() })]
}

func waitHistory(t *testing.T, e *Engine, topic herald.Topic, n int) herald.History {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := e.History(context.Background(), topic, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) >= n || time.Now().After(deadline) {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPubSubBridgeStoresOnce runs the bridge on three engines and PUBLISHes raw messages
// from a plain go-redis client, as an unchanged worker would: each is stored exactly once,
// in order, the final one closes the topic; after the leader closes another node takes over.
func TestPubSubBridgeStoresOnce(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	rule := bridge.Rule{
		Pattern: "scan:*:progress", Topic: "scan:{1}", EventField: "step",
		FinalWhen: &bridge.Condition{Field: "progress", Equals: 100},
	}
	var engines []*Engine
	for range 3 {
		e, _ := newTestEngine(t, srv.URL(), Options{Bridge: []bridge.Rule{rule}, LeaseTTL: time.Second})
		engines = append(engines, e)
	}
	leader := waitLeader(t, engines)
	worker := rawClient(t, srv)
	// Wait until the leader's PSUBSCRIBE is in place.
	for worker.PubSubNumPat(ctx).Val() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	const n = 20
	for i := 1; i < n; i++ {
		worker.Publish(ctx, "scan:abc:progress", fmt.Sprintf(`{"step":"s%d","progress":%d}`, i, i))
	}
	h := waitHistory(t, engines[1], "scan:abc", n-1)
	time.Sleep(200 * time.Millisecond)
	h = waitHistory(t, engines[2], "scan:abc", n-1)
	if len(h.Events) != n-1 {
		t.Fatalf("stored %d events, want %d", len(h.Events), n-1)
	}
	for i, ev := range h.Events {
		if string(ev.Name) != fmt.Sprintf("s%d", i+1) || ev.Final {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}

	// Failover: the leader shuts down and releases its lease; another node bridges.
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*Engine
	for _, e := range engines {
		if e != leader {
			rest = append(rest, e)
		}
	}
	waitLeader(t, rest)
	for worker.PubSubNumPat(ctx).Val() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	worker.Publish(ctx, "scan:abc:progress", `{"step":"done","progress":100}`)
	h = waitHistory(t, rest[0], "scan:abc", n)
	time.Sleep(200 * time.Millisecond)
	h, _ = rest[0].History(ctx, "scan:abc", 0, 10000)
	if len(h.Events) != n || !h.State.Closed || h.Events[n-1].Name != "done" {
		t.Fatalf("after failover: %d events, state %+v", len(h.Events), h.State)
	}
}

// TestStreamBridgeStoresOnceAndAcks XADDs entries (some before the engines start) to two
// shards, with two engines running the bridge: each entry is stored once, in stream order
// (the final status last), and acknowledged.
func TestStreamBridgeStoresOnceAndAcks(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	worker := rawClient(t, srv)
	xadd := func(shard, job, stage, status string) {
		t.Helper()
		err := worker.XAdd(ctx, &goredis.XAddArgs{Stream: "scan:events:" + shard, Values: []string{
			"job_id", job, "stage", stage, "status", status, "progress", "0",
		}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	xadd("0", "j1", "vision", "running") // before Herald runs
	rule := bridge.Rule{
		Stream: bridge.StringList{"scan:events:*"}, Group: "herald", Topic: "scan:{job_id}",
		EventField: "stage", FinalWhen: &bridge.Condition{Field: "status", Equals: "completed"},
	}
	a, _ := newTestEngine(t, srv.URL(), Options{Bridge: []bridge.Rule{rule}})
	newTestEngine(t, srv.URL(), Options{Bridge: []bridge.Rule{rule}})
	xadd("1", "j2", "vision", "running")
	for _, st := range []string{"rule", "answer", "reward"} {
		xadd("0", "j1", st, "running")
		xadd("1", "j2", st, "running")
	}
	xadd("0", "j1", "reward", "completed")

	h1 := waitHistory(t, a, "scan:j1", 5)
	h2 := waitHistory(t, a, "scan:j2", 4)
	time.Sleep(300 * time.Millisecond)
	h1, _ = a.History(ctx, "scan:j1", 0, 10000)
	h2, _ = a.History(ctx, "scan:j2", 0, 10000)
	if len(h1.Events) != 5 || !h1.State.Closed || h1.Events[0].Name != "vision" {
		t.Errorf("j1: %d events, state %+v", len(h1.Events), h1.State)
	}
	if len(h2.Events) != 4 || h2.State.Closed {
		t.Errorf("j2: %d events, state %+v", len(h2.Events), h2.State)
	}
	for _, shard := range []string{"0", "1"} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, err := worker.XPending(ctx, "scan:events:"+shard, "herald").Result()
			if err != nil {
				t.Fatal(err)
			}
			if p.Count == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shard %s: %d entries not acknowledged", shard, p.Count)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestStreamRedeliveryStoredOnce replays an entry as a crashed consumer's redelivery would:
// publishing with the same DedupKey returns the stored event.
func TestStreamRedeliveryStoredOnce(t *testing.T) {
	srv := testserver.Redis(t)
	e, _ := newTestEngine(t, srv.URL(), Options{})
	m := msg("scan:j", "vision", "{}")
	m.DedupKey = "scan:events:0/1-0"
	a := publish(t, e, m)
	b := publish(t, e, m)
	if a[0].Seq != b[0].Seq {
		t.Fatalf("redelivery stored twice: %d, %d", a[0].Seq, b[0].Seq)
	}
}

// TestPubSubBridgeWaitsForStaleLease: a leader that died without releasing leaves its lease;
// no node bridges until it expires, then exactly one takes over.
func TestPubSubBridgeWaitsForStaleLease(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	rc := rawClient(t, srv)
	if err := rc.Set(ctx, DefaultPrefix+":bridge:leader", "dead-node", 800*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	rule := bridge.Rule{Pattern: "jobs:*", Topic: "{channel}"}
	var engines []*Engine
	for range 3 {
		e, _ := newTestEngine(t, srv.URL(), Options{Bridge: []bridge.Rule{rule}, LeaseTTL: time.Second})
		engines = append(engines, e)
	}
	time.Sleep(300 * time.Millisecond)
	for _, e := range engines {
		if e.bridge.isLeader() {
			t.Fatal("a node bridges while another node's lease is live")
		}
	}
	waitLeader(t, engines)
	for rc.PubSubNumPat(ctx).Val() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	rc.Publish(ctx, "jobs:1", "x")
	h := waitHistory(t, engines[0], "jobs:1", 1)
	time.Sleep(100 * time.Millisecond)
	h, _ = engines[0].History(ctx, "jobs:1", 0, 10)
	if len(h.Events) != 1 {
		t.Fatalf("stored %d copies", len(h.Events))
	}
}

// TestStreamBridgeInheritsPending: a leader read two entries, stored the first and died
// before acknowledging either. The next leader rereads both as the same consumer: the
// first is not stored again, the second is stored, both are acknowledged.
func TestStreamBridgeInheritsPending(t *testing.T) {
	srv := testserver.Redis(t)
	ctx := context.Background()
	rc := rawClient(t, srv)
	if err := rc.XGroupCreateMkStream(ctx, "jobs", "herald", "0").Err(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range []string{"one", "two"} {
		id, err := rc.XAdd(ctx, &goredis.XAddArgs{Stream: "jobs", Values: []string{"job", "j", "stage", st}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The dead leader's read (never acknowledged) and its one completed publish.
	if err := rc.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "herald", Consumer: StreamConsumer, Streams: []string{"jobs", ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	rule := bridge.Rule{Stream: bridge.StringList{"jobs"}, Group: "herald", Topic: "job:{job}", EventField: "stage"}
	if err := rule.Compile(); err != nil {
		t.Fatal(err)
	}
	m, _, err := rule.MapFields("jobs", map[string]string{"job": "j", "stage": "one"})
	if err != nil {
		t.Fatal(err)
	}
	m.DedupKey = "jobs/" + ids[0]
	old, _ := newTestEngine(t, srv.URL(), Options{})
	publish(t, old, m)

	e, _ := newTestEngine(t, srv.URL(), Options{Bridge: []bridge.Rule{rule}})
	h := waitHistory(t, e, "job:j", 2)
	deadline := time.Now().Add(10 * time.Second)
	for rc.XPending(ctx, "jobs", "herald").Val().Count != 0 {
		if time.Now().After(deadline) {
			t.Fatal("entries not acknowledged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h, _ = e.History(ctx, "job:j", 0, 10)
	if len(h.Events) != 2 || h.Events[0].Name != "one" || h.Events[1].Name != "two" {
		t.Fatalf("history: %+v", h.Events)
	}
}
