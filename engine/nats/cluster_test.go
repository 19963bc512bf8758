package natsengine

import (
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
)

// TestCluster: three nats-servers joined by routes, one Herald node on each, streams with
// three replicas. An event published on node 0 reaches the subscriber on node 2 and is in
// history read on node 1; publishes from every node extend one chain.
func TestCluster(t *testing.T) {
	servers := testserver.NATSCluster(t, 3)
	ctx := t.Context()
	var nodes []*Engine
	var recs []*enginetest.Recorder
	for _, srv := range servers {
		e, rec := startedEngine(t, Options{URL: srv.URL(), Replicas: 3})
		nodes, recs = append(nodes, e), append(recs, rec)
	}
	topic := herald.Topic("raffle:42")
	if err := nodes[2].Subscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	// Interest travels to the other servers over routes after Subscribe returns (see
	// Subscribe's doc); give it a moment before the first publish.
	time.Sleep(100 * time.Millisecond)
	var all []herald.Event
	for round := range 3 {
		for i, n := range nodes {
			evs := publishN(t, n, topic, 2)
			if len(all) > 0 && evs[0].Prev != all[len(all)-1].Seq {
				t.Fatalf("round %d node %d: Prev %d, want %d", round, i, evs[0].Prev, all[len(all)-1].Seq)
			}
			all = append(all, evs...)
		}
	}
	got := recs[2].Wait(t, topic, len(all), 10*time.Second)
	for i := range all {
		if got[i].Seq != all[i].Seq || got[i].Epoch != all[i].Epoch {
			t.Fatalf("delivered %d: %s, want %s", i, got[i].ID(), all[i].ID())
		}
	}
	h, err := nodes[1].History(ctx, topic, all[3].Seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != len(all)-4 || h.Events[0].Seq != all[4].Seq || h.State.Last != all[len(all)-1].Seq {
		t.Fatalf("resume on node 1 after %s: %d events, state %+v", all[3].ID(), len(h.Events), h.State)
	}
}
