package enginetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// testHistory: reads after 0 and after k, limits, the topic state, unknown topics.
func (s *suite) testHistory(t *testing.T) {
	n := s.node(t, nil)
	topic := s.newTopic("history")
	evs := publishN(t, n, topic, 10)
	state := herald.TopicState{Epoch: evs[0].Epoch, First: evs[0].Seq, Last: evs[9].Seq}

	for _, c := range []struct {
		name  string
		after uint64
		limit int
		want  []herald.Event
	}{
		{"all", 0, 100, evs},
		{"exact limit", 0, 10, evs},
		{"limit", 0, 3, evs[:3]},
		{"limit past the first few", 0, 5, evs[:5]},
		{"after k with a longer limit", evs[1].Seq, 6, evs[2:8]},
		{"after k", evs[3].Seq, 100, evs[4:]},
		{"after k with limit", evs[3].Seq, 2, evs[4:6]},
		{"after next to last", evs[8].Seq, 100, evs[9:]},
		{"after last", evs[9].Seq, 100, nil},
		{"after beyond last", evs[9].Seq + 1000, 100, nil},
		{"limit 0 gives state only", 0, 0, nil},
		{"negative limit gives state only", 0, -1, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := history(t, n, topic, c.after, c.limit)
			sameEvents(t, "events", h.Events, c.want)
			if h.State != state {
				t.Errorf("state = %+v, want %+v", h.State, state)
			}
		})
	}

	t.Run("interleaved topics", func(t *testing.T) {
		// Two topics published in turn (one stream, on engines that share one): each
		// topic's history holds its own events only, however many are read.
		a, b := s.newTopic("history-a"), s.newTopic("history-b")
		var ea, eb []herald.Event
		for i := range 12 {
			ea = append(ea, publish(t, n, msg(a, "a", fmt.Sprint(i)))...)
			eb = append(eb, publish(t, n, msg(b, "b", fmt.Sprint(i)))...)
		}
		sameEvents(t, "topic a", history(t, n, a, 0, 100).Events, ea)
		sameEvents(t, "topic b after 2", history(t, n, b, eb[1].Seq, 100).Events, eb[2:])
		sameEvents(t, "topic a, 7 after 1", history(t, n, a, ea[0].Seq, 7).Events, ea[1:8])
	})

	t.Run("unknown topic", func(t *testing.T) {
		h := history(t, n, s.newTopic("never-published"), 0, 100)
		if len(h.Events) != 0 || h.State != (herald.TopicState{}) {
			t.Errorf("unknown topic: %v, state %+v, want nothing and the zero state (Epoch \"\")", ids(h.Events), h.State)
		}
	})
}

// testRetentionSize: a topic keeps its newest Size events; First moves and the first
// retained event's Prev shows the gap.
func (s *suite) testRetentionSize(t *testing.T) {
	const size = 5
	n := s.node(t, keep(size, time.Hour))
	topic := s.newTopic("size")
	evs := publishN(t, n, topic, 12)
	h := history(t, n, topic, 0, 100)
	sameEvents(t, "retained", h.Events, evs[len(evs)-size:])
	want := herald.TopicState{Epoch: evs[0].Epoch, First: evs[7].Seq, Last: evs[11].Seq}
	if h.State != want {
		t.Errorf("state = %+v, want %+v", h.State, want)
	}
	if h.Events[0].Prev != evs[6].Seq {
		t.Errorf("first retained event's Prev = %d, want %d (a reader after 0 must see the gap)", h.Events[0].Prev, evs[6].Seq)
	}
	// A cursor inside the trimmed part reads from the oldest retained event.
	sameEvents(t, "after a trimmed event", history(t, n, topic, evs[2].Seq, 100).Events, evs[7:])
	sameEvents(t, "after a retained event", history(t, n, topic, evs[9].Seq, 100).Events, evs[10:])
}

// testRetentionTTL: events older than the TTL are not returned, each on its own time; once
// all expired, an unsubscribed topic is forgotten (Epoch "") and its next publish starts a
// new epoch.
func (s *suite) testRetentionTTL(t *testing.T) {
	const ttl = 400 * time.Millisecond
	n := s.node(t, keep(100, ttl))
	topic := s.newTopic("ttl")
	start := time.Now()
	old := publish(t, n, msg(topic, "", "old"))[0]
	time.Sleep(ttl / 2) // so the two events expire apart
	young := publish(t, n, msg(topic, "", "young"))[0]
	if h := history(t, n, topic, 0, 100); time.Since(start) < ttl {
		sameEvents(t, "before expiry", h.Events, []herald.Event{old, young})
	}

	var h herald.History
	poll(t, s.f.Timeout+ttl, "the first event did not expire", func() bool {
		h = history(t, n, topic, 0, 100)
		return len(h.Events) < 2
	})
	if len(h.Events) == 1 {
		sameEvents(t, "after the first event expired", h.Events, []herald.Event{young})
		if h.State.First != young.Seq || h.State.Last != young.Seq || h.State.Epoch != old.Epoch {
			t.Errorf("state after the first event expired = %+v, want First = Last = %d in epoch %q", h.State, young.Seq, old.Epoch)
		}
	}
	poll(t, s.f.Timeout+ttl, "topic not forgotten after all its events expired", func() bool {
		h = history(t, n, topic, 0, 100)
		return len(h.Events) == 0 && h.State.Epoch == ""
	})
	if h.State != (herald.TopicState{}) {
		t.Errorf("forgotten topic's state = %+v, want the zero state", h.State)
	}
	fresh := publish(t, n, msg(topic, "", "fresh"))[0]
	if fresh.Epoch == old.Epoch || fresh.Prev != 0 {
		t.Errorf("publish after expiry = %s (Prev %d), want a new epoch (old %q) with Prev 0", fresh.ID(), fresh.Prev, old.Epoch)
	}
}
