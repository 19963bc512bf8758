package natsengine

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/nats-io/nats.go"
)

// gatedSink blocks its first Deliver until the gate opens, then records like its Recorder.
type gatedSink struct {
	*enginetest.Recorder
	entered chan struct{}
	gate    chan struct{}
}

func (s *gatedSink) Deliver(ev *herald.Event) {
	select {
	case s.entered <- struct{}{}:
		<-s.gate
	default:
	}
	s.Recorder.Deliver(ev)
}

// TestFeedOverflowResyncs: when a feed channel is full, the NATS client drops the live
// message; the engine must then resync the sink (which rereads history) rather than lose
// the event silently.
func TestFeedOverflowResyncs(t *testing.T) {
	srv := testserver.NATS(t)
	e := newEngine(t, srv.URL(), nil)
	// One feed channel with room for one message, so a blocked dispatcher overflows it.
	e.feeds = &feeds{seed: maphash.MakeSeed(), chans: []chan *nats.Msg{make(chan *nats.Msg, 1)}}
	sink := &gatedSink{Recorder: enginetest.NewRecorder(), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	if err := e.Start(t.Context(), sink); err != nil {
		t.Fatal(err)
	}
	topic := herald.Topic("feed:overflow")
	if err := e.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	publishOne := func(data string) {
		t.Helper()
		if _, err := e.Publish(t.Context(), []herald.Message{{Topic: topic, Data: []byte(data)}}); err != nil {
			t.Fatal(err)
		}
	}
	publishOne("first")
	select {
	case <-sink.entered: // the dispatcher is now blocked in Deliver of the first event
	case <-time.After(10 * time.Second):
		t.Fatal("the first event never reached the sink")
	}
	for i := range 5 { // one fits the channel, the rest are dropped by the client
		publishOne("more " + string(rune('a'+i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for dropped(t, e, topic) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the NATS client never dropped a message of the full feed channel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(sink.gate)
	for sink.Resyncs() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a dropped live message did not resync the sink")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dropped(t *testing.T, e *Engine, topic herald.Topic) int {
	t.Helper()
	e.mu.Lock()
	ls := e.subs[topic]
	e.mu.Unlock()
	n, err := ls.sub.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
