package enginetest

import (
	"testing"

	"github.com/heraldpush/herald"
)

// testSubscribe: after Subscribe returns, every event of the topic reaches the sink (an
// event from just before it may too; the hub drops it); events of topics not subscribed do
// not; after Unsubscribe none arrives; subscribing again works. A topic subscribed but never
// published has Epoch "".
func (s *suite) testSubscribe(t *testing.T) {
	n := s.node(t, nil)
	topic, unsubscribed, marker := s.newTopic("live"), s.newTopic("live-not"), s.newTopic("live-marker")
	before := publish(t, n, msg(topic, "", "before subscribe"))[0]

	fresh := s.newTopic("live-fresh")
	for _, tp := range []herald.Topic{topic, marker, fresh} {
		if err := n.Subscribe(t.Context(), tp); err != nil {
			t.Fatalf("Subscribe(%q): %v", tp, err)
		}
	}
	if h := history(t, n, fresh, 0, 10); h.State != (herald.TopicState{}) || len(h.Events) != 0 {
		t.Errorf("subscribed, never published topic: state %+v, want the zero state (Epoch \"\")", h.State)
	}

	var want []herald.Event
	for i := range 20 {
		want = append(want, publish(t, n, msg(topic, "", string(rune('a'+i))))...)
		if i%5 == 0 {
			publish(t, n, msg(unsubscribed, "", "nobody listens"))
		}
	}
	checkChain(t, want, before.Seq)
	sameEvents(t, "delivered", n.rec.WaitAfter(t, topic, before.Seq, len(want), s.f.Timeout), want)

	if err := n.Unsubscribe(t.Context(), topic); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	gone := publish(t, n, msg(topic, "", "after unsubscribe"))[0]
	// The marker topic is still subscribed: once its event arrives, anything the engine
	// would wrongly deliver for the other topics has had its chance to arrive too.
	publish(t, n, msg(marker, "", "barrier"))
	n.rec.Wait(t, marker, 1, s.f.Timeout)
	sameEvents(t, "delivered after Unsubscribe", n.rec.WaitAfter(t, topic, before.Seq, 0, s.f.Timeout), want)
	if got := n.rec.Events(unsubscribed); len(got) != 0 {
		t.Errorf("topic never subscribed: %d events delivered %v", len(got), ids(got))
	}

	if err := n.Subscribe(t.Context(), topic); err != nil {
		t.Fatalf("Subscribe again: %v", err)
	}
	again := publish(t, n, msg(topic, "", "subscribed again"))[0]
	sameEvents(t, "delivered after subscribing again", n.rec.WaitAfter(t, topic, gone.Seq, 1, s.f.Timeout), []herald.Event{again})
	checkChain(t, []herald.Event{gone, again}, want[len(want)-1].Seq)

	// The first event of a subscribed topic that was never published reaches the sink too.
	first := publish(t, n, msg(fresh, "", "first"))[0]
	sameEvents(t, "first event of a fresh topic", n.rec.Wait(t, fresh, 1, s.f.Timeout), []herald.Event{first})
}
