package enginetest

import (
	"testing"

	"github.com/heraldpush/herald"
)

// testMultiNode: nodes sharing a store see one history and one live feed: an event
// published on A reaches B's sink, B's history holds A's events, a cursor from A resumes on
// B, publishes from both nodes extend one chain, and a final on one node closes the topic
// for the other.
func (s *suite) testMultiNode(t *testing.T) {
	if !s.f.MultiNode {
		t.Log("Factory.MultiNode is false: engines do not share a store, nothing to check")
		return
	}
	a, b := s.node(t, nil), s.node(t, nil)
	topic := s.newTopic("multi")
	if err := b.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	fromA := publishN(t, a, topic, 10)
	checkChain(t, fromA, 0)
	sameEvents(t, "delivered on B", b.rec.Wait(t, topic, 10, s.f.Timeout), fromA)
	sameEvents(t, "history on B", history(t, b, topic, 0, 100).Events, fromA)

	fromB := publishN(t, b, topic, 5)
	all := append(fromA[:10:10], fromB...)
	checkChain(t, all, 0)
	sameEvents(t, "resume on B from a cursor of A", history(t, b, topic, fromA[4].Seq, 100).Events, all[5:])
	sameEvents(t, "resume on A from a cursor of B", history(t, a, topic, fromB[1].Seq, 100).Events, fromB[2:])

	if err := a.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	last := publish(t, a, herald.Message{Topic: topic, Name: "done", Final: true})[0]
	all = append(all, last)
	sameEvents(t, "delivered on B", b.rec.Wait(t, topic, len(all), s.f.Timeout), all)
	// A subscribed late: events from before its Subscribe may reach it too (on Redis Cluster
	// they travel the cluster bus); the hub drops them.
	sameEvents(t, "delivered on A", a.rec.WaitAfter(t, topic, last.Prev, 1, s.f.Timeout), []herald.Event{last})
	if h := history(t, b, topic, 0, 0); !h.State.Closed || h.State.Last != last.Seq {
		t.Errorf("state on B after a final on A = %+v", h.State)
	}
	_, err := b.Publish(t.Context(), []herald.Message{msg(topic, "", "late")})
	checkClosedErr(t, err, 0)
}

// testWipe: when the store loses its history, readers see a new epoch (or none) and the next
// publish starts a new epoch, still delivered live.
func (s *suite) testWipe(t *testing.T) {
	if s.f.Wipe == nil {
		t.Log("Factory.Wipe is nil: the store cannot lose history while the engine runs")
		return
	}
	n := s.node(t, nil)
	topic := s.newTopic("wipe")
	if err := n.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	old := publishN(t, n, topic, 3)
	n.rec.Wait(t, topic, 3, s.f.Timeout)
	s.f.Wipe(t)

	h := history(t, n, topic, 0, 100)
	if h.State.Epoch == old[0].Epoch {
		t.Errorf("state after wipe = %+v, want a new epoch or none", h.State)
	}
	for _, ev := range h.Events {
		if ev.Epoch == old[0].Epoch {
			t.Errorf("history after wipe returned %s from the lost epoch", ev.ID())
		}
	}
	fresh := publish(t, n, msg(topic, "", "after wipe"))[0]
	if fresh.Epoch == old[0].Epoch || fresh.Epoch == "" || fresh.Prev != 0 {
		t.Errorf("publish after wipe = %s (Prev %d), want the first event of a new epoch (old %q)", fresh.ID(), fresh.Prev, old[0].Epoch)
	}
	got := n.rec.Wait(t, topic, 4, s.f.Timeout)
	sameEvents(t, "delivered after wipe", got[3:], []herald.Event{fresh})
}
