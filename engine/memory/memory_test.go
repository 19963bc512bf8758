package memory

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/enginetest"
)

func TestConformance(t *testing.T) {
	enginetest.Run(t, enginetest.Factory{
		New: func(t *testing.T, ret herald.RetentionFunc) herald.Engine {
			return New(Options{Retention: ret})
		},
		MultiNode: false, // every New is an independent store
	})
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func keep(size int, ttl time.Duration) herald.RetentionFunc {
	return func(herald.Topic) herald.Retention { return herald.Retention{Size: size, TTL: ttl} }
}

// started returns a started engine with a fake clock, closed when t ends.
func started(t *testing.T, opts Options) (*Engine, *fakeClock, *enginetest.Recorder) {
	t.Helper()
	clock := newFakeClock()
	opts.Now = clock.now
	e := New(opts)
	rec := enginetest.NewRecorder()
	if err := e.Start(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, clock, rec
}

func publish(t *testing.T, e *Engine, msgs ...herald.Message) []herald.Event {
	t.Helper()
	evs, err := e.Publish(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func topicCount(e *Engine) int {
	n := 0
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		n += len(s.topics)
		s.mu.Unlock()
	}
	return n
}

// nopSink discards events, so benchmarks and allocation tests measure only the engine.
type nopSink struct{}

func (nopSink) Deliver(*herald.Event) {}
func (nopSink) Resync()               {}

// A subscribed topic whose events all expired keeps its epoch and sequence, so a cursor into
// it is recognised as trimmed rather than lost; once unsubscribed, it is forgotten.
func TestSubscribedTopicOutlivesItsEvents(t *testing.T) {
	e, clock, rec := started(t, Options{Retention: keep(10, time.Minute)})
	topic := herald.Topic("t")
	if err := e.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	evs := publish(t, e, herald.Message{Topic: topic}, herald.Message{Topic: topic})
	clock.advance(2 * time.Minute)
	h, err := e.History(t.Context(), topic, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := herald.TopicState{Epoch: evs[0].Epoch, First: 0, Last: 2}
	if len(h.Events) != 0 || h.State != want {
		t.Fatalf("after expiry: %d events, state %+v, want none and %+v", len(h.Events), h.State, want)
	}
	next := publish(t, e, herald.Message{Topic: topic})[0]
	if next.Epoch != evs[0].Epoch || next.Seq != 3 || next.Prev != 2 {
		t.Fatalf("publish after expiry while subscribed = %s prev %d, want %s-3 prev 2", next.ID(), next.Prev, evs[0].Epoch)
	}
	if got := rec.Wait(t, topic, 3, time.Second); len(got) != 3 {
		t.Fatalf("delivered %d events", len(got))
	}

	clock.advance(2 * time.Minute)
	if err := e.Unsubscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	if n := topicCount(e); n != 0 {
		t.Fatalf("%d topics after the last event expired and the node unsubscribed, want 0", n)
	}
}

// The janitor's sweep forgets topics nobody touches once their events expired, and keeps
// subscribed or unexpired ones.
func TestSweepForgetsIdleTopics(t *testing.T) {
	e, clock, _ := started(t, Options{Retention: keep(10, time.Minute)})
	for _, tp := range []herald.Topic{"a", "b", "c"} {
		publish(t, e, herald.Message{Topic: tp})
	}
	if err := e.Subscribe(t.Context(), "b"); err != nil {
		t.Fatal(err)
	}
	clock.advance(59 * time.Second)
	publish(t, e, herald.Message{Topic: "c"})
	clock.advance(2 * time.Second)
	if n := e.sweep(); n != 1 {
		t.Fatalf("sweep forgot %d topics, want 1 (a)", n)
	}
	if n := topicCount(e); n != 2 {
		t.Fatalf("%d topics left, want 2 (b subscribed, c unexpired)", n)
	}
}

// The janitor runs on its own between Start and Close.
func TestJanitorRuns(t *testing.T) {
	e, clock, _ := started(t, Options{Retention: keep(10, time.Minute), JanitorInterval: 5 * time.Millisecond})
	publish(t, e, herald.Message{Topic: "a"})
	clock.advance(2 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for topicCount(e) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("janitor did not forget an expired topic")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDedupWindowAndTTL(t *testing.T) {
	e, clock, _ := started(t, Options{Retention: keep(100, time.Minute), DedupWindow: 2})
	keyed := func(key string) herald.Message { return herald.Message{Topic: "d", DedupKey: key} }
	k1 := publish(t, e, keyed("k1"))[0]
	publish(t, e, keyed("k2"))
	if again := publish(t, e, keyed("k1"))[0]; again.Seq != k1.Seq {
		t.Fatalf("k1 within the window = seq %d, want %d", again.Seq, k1.Seq)
	}
	publish(t, e, keyed("k3")) // pushes k1 out of a window of 2
	if again := publish(t, e, keyed("k1"))[0]; again.Seq != 4 {
		t.Fatalf("k1 after leaving the window = seq %d, want a new event 4", again.Seq)
	}
	k1b := publish(t, e, keyed("k1"))[0]
	if k1b.Seq != 4 {
		t.Fatalf("k1 re-added = seq %d, want 4", k1b.Seq)
	}
	clock.advance(30 * time.Second)
	publish(t, e, herald.Message{Topic: "d"}) // keeps the topic alive past k1's expiry
	clock.advance(31 * time.Second)
	if again := publish(t, e, keyed("k1"))[0]; again.Seq != 6 {
		t.Fatalf("k1 after its event expired = seq %d, want a new event 6", again.Seq)
	}
}

// A retried final publish with the same DedupKey answers the final event, not ErrTopicClosed.
func TestDedupRetriedFinal(t *testing.T) {
	e, _, _ := started(t, Options{})
	m := herald.Message{Topic: "task", Final: true, DedupKey: "done"}
	first := publish(t, e, m)[0]
	if again := publish(t, e, m)[0]; again.Position != first.Position {
		t.Fatalf("retried final = %s, want %s", again.ID(), first.ID())
	}
}

func TestRetentionDefaults(t *testing.T) {
	e, clock, _ := started(t, Options{Retention: keep(0, 0)})
	for range DefaultHistorySize + 5 {
		publish(t, e, herald.Message{Topic: "t"})
	}
	h, _ := e.History(t.Context(), "t", 0, 2*DefaultHistorySize)
	if len(h.Events) != DefaultHistorySize || h.State.First != 6 {
		t.Fatalf("zero Size kept %d events from %d, want %d from 6", len(h.Events), h.State.First, DefaultHistorySize)
	}
	clock.advance(DefaultHistoryTTL + time.Second)
	if h, _ := e.History(t.Context(), "t", 0, 10); h.State.Epoch != "" {
		t.Fatalf("zero TTL: state %+v after DefaultHistoryTTL, want forgotten", h.State)
	}
}

func TestLifecycle(t *testing.T) {
	e := New(Options{})
	if err := e.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	rec := enginetest.NewRecorder()
	if err := e.Start(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context(), rec); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Ping(t.Context()); !errors.Is(err, herald.ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
	if _, err := e.Publish(t.Context(), []herald.Message{{Topic: ""}}); !errors.Is(err, herald.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	// Close before Start must not hang.
	if err := New(Options{}).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPublishEmptyTopic(t *testing.T) {
	e, _, _ := started(t, Options{})
	_, err := e.Publish(t.Context(), []herald.Message{{Topic: "ok"}, {Topic: ""}})
	var pe *herald.PublishError
	if !errors.Is(err, herald.ErrInvalidTopic) || !errors.As(err, &pe) || pe.Published != 1 {
		t.Fatalf("err = %v, want a PublishError{Published: 1} wrapping ErrInvalidTopic", err)
	}
}

// Publish allocates the returned events and the data copy, nothing else, once a topic's
// ring is full (its growth is amortised).
func TestPublishAllocs(t *testing.T) {
	e := New(Options{Retention: keep(64, time.Hour)})
	if err := e.Start(t.Context(), nopSink{}); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Subscribe(t.Context(), "sub"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []herald.Topic{"plain", "sub"} {
		msgs := []herald.Message{{Topic: topic, Name: "n", Data: []byte("payload")}}
		for range 100 {
			publish(t, e, msgs...)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := e.Publish(t.Context(), msgs); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 2 {
			t.Errorf("topic %s: %.1f allocations per Publish, want at most 2 (events and data)", topic, allocs)
		}
	}
}

// A subscription alone holds no topic entry (a node with a topic per idle stream must not pay
// a topic struct per stream, issue 17): the never-published topic answers the zero state and
// counts as online; its first publish creates the entry and is delivered.
func TestSubscriptionHoldsNoTopicEntry(t *testing.T) {
	e, _, rec := started(t, Options{})
	topic := herald.Topic("quiet")
	if err := e.Subscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	if n := topicCount(e); n != 0 {
		t.Fatalf("%d topic entries after a subscription alone, want 0", n)
	}
	h, err := e.History(t.Context(), topic, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 0 || h.State != (herald.TopicState{}) {
		t.Fatalf("history of a subscribed, never-published topic: %d events, state %+v; want none and the zero state", len(h.Events), h.State)
	}
	evs, online, err := e.PublishOnline(t.Context(), []herald.Message{{Topic: topic}})
	if err != nil || len(online) != 1 || !online[0] {
		t.Fatalf("PublishOnline to a subscribed topic: online %v, err %v; want [true]", online, err)
	}
	if got := rec.Wait(t, topic, 1, time.Second); len(got) != 1 || got[0].Seq != evs[0].Seq {
		t.Fatalf("delivered %d events, want the one published", len(got))
	}
	if n := topicCount(e); n != 1 {
		t.Fatalf("%d topic entries after the first publish, want 1", n)
	}
	if err := e.Unsubscribe(t.Context(), topic); err != nil {
		t.Fatal(err)
	}
	if _, online, _ := e.PublishOnline(t.Context(), []herald.Message{{Topic: topic}}); online[0] {
		t.Fatal("PublishOnline reports an unsubscribed topic online")
	}
}
