package natsengine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
)

// scanRules is the scan pipeline's bridge rule: scan.<id>.progress → scan:<id>, named by the
// step, final at progress 100.
func scanRules() []bridge.Rule {
	return []bridge.Rule{{
		Pattern: "scan.*.progress", Topic: "scan:{1}", EventField: "step",
		FinalWhen: &bridge.Condition{Field: "progress", Equals: 100},
	}}
}

// waitLeader waits until exactly one of engines holds the bridge lease and returns it.
func waitLeader(t *testing.T, engines []*Engine) *Engine {
	t.Helper()
	return engines[clustertest.WaitLeader(t, len(engines), func(i int) bool { return engines[i].lease.isLeader() })]
}

// publishSteps sends a worker's steps of one scan back to back, as plain core NATS
// publishes: s1…s<n>, the last one at progress 100.
func publishSteps(t *testing.T, worker *nats.Conn, scan string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		payload := fmt.Sprintf(`{"step":"s%d","progress":%d}`, i, i*100/n)
		if err := worker.Publish("scan."+scan+".progress", []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}
}

// checkSteps checks that topic's history holds exactly the n steps, in order, the last one
// final and the topic closed.
func checkSteps(t *testing.T, e *Engine, topic herald.Topic, n int) []herald.Event {
	t.Helper()
	h, err := e.History(t.Context(), topic, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != n || !h.State.Closed {
		t.Fatalf("%s: %d events, state %+v; want %d events, closed", topic, len(h.Events), h.State, n)
	}
	for i, ev := range h.Events {
		if want := fmt.Sprintf("s%d", i+1); string(ev.Name) != want {
			t.Fatalf("%s: event %d is %q, want %q", topic, i, ev.Name, want)
		}
	}
	if !h.Events[n-1].Final {
		t.Fatalf("%s: last event not final", topic)
	}
	return h.Events
}

// TestBridge: three nodes run the bridge for scan.*.progress; a worker's plain core NATS
// publishes, sent back to back, reach a subscriber on another node, each stored exactly
// once and in the order sent, and the final_when rule closes the topic. Then the leader
// shuts down, another node takes over at once, and a second scan is bridged the same way.
func TestBridge(t *testing.T) {
	srv := testserver.NATS(t)
	ctx := t.Context()
	var nodes []*Engine
	var recs []*enginetest.Recorder
	for range 3 {
		e, rec := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Bridge: scanRules(), LeaseTTL: 3 * time.Second})
		nodes, recs = append(nodes, e), append(recs, rec)
	}
	leader := waitLeader(t, nodes)
	var watcher int // a node that is not the leader watches the topics
	for i, n := range nodes {
		if n != leader {
			watcher = i
		}
	}
	for _, topic := range []herald.Topic{"scan:abc", "scan:def"} {
		if err := nodes[watcher].Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	worker, _ := jsClient(t, srv.URL())

	const steps = 100
	publishSteps(t, worker, "abc", steps)
	got := recs[watcher].Wait(t, "scan:abc", steps, 10*time.Second)
	stored := checkSteps(t, nodes[watcher], "scan:abc", steps)
	for i := range stored {
		if got[i].Seq != stored[i].Seq {
			t.Fatalf("delivered event %d has seq %d, stored %d", i, got[i].Seq, stored[i].Seq)
		}
	}

	// Failover: the leader releases its lease on Close; another node bridges well within
	// the lease's TTL.
	closed := time.Now()
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	var rest []*Engine
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := waitLeader(t, rest)
	if took := time.Since(closed); took > 2*time.Second {
		t.Errorf("takeover after a released lease took %v (lease TTL 3s, rounds every 1s)", took)
	}
	if err := next.flush(ctx); err != nil {
		t.Fatal(err)
	}
	publishSteps(t, worker, "def", steps)
	recs[watcher].Wait(t, "scan:def", steps, 10*time.Second)
	checkSteps(t, nodes[watcher], "scan:def", steps)
}

// TestBridgeRequestReply: a worker that sends a request gets the stored event's id back.
func TestBridgeRequestReply(t *testing.T) {
	srv := testserver.NATS(t)
	e, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Bridge: scanRules()})
	waitLeader(t, []*Engine{e})
	worker, _ := jsClient(t, srv.URL())
	reply, err := worker.Request("scan.r1.progress", []byte(`{"step":"vision","progress":10}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.History(t.Context(), "scan:r1", 0, 10)
	if err != nil || len(h.Events) != 1 {
		t.Fatalf("history: %+v, %v", h, err)
	}
	if want := h.Events[0].ID(); string(reply.Data) != want {
		t.Fatalf("reply %q, want the event id %q", reply.Data, want)
	}
}

// TestBridgeWaitsForStaleLease: a leader that died without releasing leaves its key; no
// node bridges until the bucket's TTL removes it, then exactly one takes over.
func TestBridgeWaitsForStaleLease(t *testing.T) {
	srv := testserver.NATS(t)
	nc, js := jsClient(t, srv.URL())
	ctx := t.Context()
	const ttl = time.Second
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: DefaultPrefix + "_bridge", History: 1, TTL: ttl, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, leaseKey, []byte("dead-node")); err != nil {
		t.Fatal(err)
	}
	dead := time.Now()
	var nodes []*Engine
	for range 3 {
		e, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Bridge: scanRules(), LeaseTTL: ttl})
		nodes = append(nodes, e)
	}
	for time.Since(dead) < ttl*7/10 {
		for _, n := range nodes {
			if n.lease.isLeader() {
				t.Fatalf("a node bridges %v after another node's lease was written (TTL %v)", time.Since(dead), ttl)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	leader := waitLeader(t, nodes)
	if err := leader.flush(ctx); err != nil {
		t.Fatal(err)
	}
	publishSteps(t, nc, "stale", 10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := nodes[0].History(ctx, "scan:stale", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) == 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkSteps(t, nodes[0], "scan:stale", 10)
}

// TestBridgeLeaseTakenOver: a leader whose key another node overwrote (its renewal is
// refused) stops bridging at its next round.
func TestBridgeLeaseTakenOver(t *testing.T) {
	srv := testserver.NATS(t)
	e, _ := startedEngine(t, Options{URL: srv.URL(), Storage: jetstream.MemoryStorage, Bridge: scanRules(), LeaseTTL: 600 * time.Millisecond})
	waitLeader(t, []*Engine{e})
	nc, js := jsClient(t, srv.URL())
	kv, err := js.KeyValue(t.Context(), DefaultPrefix+"_bridge")
	if err != nil {
		t.Fatal(err)
	}
	// Another node writes the key over and over (as if it had taken the lease).
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_, _ = kv.Put(context.Background(), leaseKey, []byte("other-node"))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.lease.isLeader() {
		if time.Now().After(deadline) {
			t.Fatal("still leading 5s after another node took the key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// It no longer stores what workers send.
	time.Sleep(200 * time.Millisecond)
	publishSteps(t, nc, "late", 1)
	time.Sleep(300 * time.Millisecond)
	if h, err := e.History(t.Context(), "scan:late", 0, 10); err != nil || len(h.Events) != 0 {
		t.Fatalf("a node that lost the lease stored %d events (%v)", len(h.Events), err)
	}
}
