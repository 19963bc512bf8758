package hub

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// faultyEngine wraps the real memory engine to inject the faults a broker causes: live events
// that never arrive (a Pub/Sub connection that dropped), and history that vanishes (a flushed
// broker, simulated by swapping in a fresh store).
type faultyEngine struct {
	mu    sync.Mutex
	inner *memory.Engine
	sink  herald.Sink
	topic []herald.Topic
	drop  func(ev *herald.Event) bool

	down      atomic.Bool   // Subscribe fails, as with a broker that is unreachable
	subCalls  atomic.Int64  // Subscribe calls
	histCalls atomic.Int64  // History calls
	histFails atomic.Int64  // the next this many History calls fail (a broker restarting)
	histDelay time.Duration // each History call takes this long, as a broker round trip does
}

func newFaultyEngine() *faultyEngine { return &faultyEngine{inner: memory.New(memory.Options{})} }

func (f *faultyEngine) store() *memory.Engine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inner
}

func (f *faultyEngine) Start(ctx context.Context, sink herald.Sink) error {
	f.sink = sink
	return f.store().Start(ctx, f)
}

// Deliver implements herald.Sink for the inner engine, dropping what the test asks.
func (f *faultyEngine) Deliver(ev *herald.Event) {
	if f.drop != nil && f.drop(ev) {
		return
	}
	f.sink.Deliver(ev)
}

func (f *faultyEngine) Resync() { f.sink.Resync() }

func (f *faultyEngine) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	return f.store().Publish(ctx, msgs)
}

func (f *faultyEngine) History(ctx context.Context, t herald.Topic, after uint64, limit int) (herald.History, error) {
	f.histCalls.Add(1)
	if f.histFails.Add(-1) >= 0 {
		return herald.History{}, fmt.Errorf("faulty engine: %w", herald.ErrEngineUnavailable)
	}
	if f.histDelay > 0 {
		time.Sleep(f.histDelay)
	}
	return f.store().History(ctx, t, after, limit)
}

func (f *faultyEngine) Subscribe(ctx context.Context, t herald.Topic) error {
	f.subCalls.Add(1)
	if f.down.Load() {
		return fmt.Errorf("faulty engine: %w", herald.ErrEngineUnavailable)
	}
	f.mu.Lock()
	f.topic = append(f.topic, t)
	f.mu.Unlock()
	return f.store().Subscribe(ctx, t)
}

func (f *faultyEngine) Unsubscribe(ctx context.Context, t herald.Topic) error {
	return f.store().Unsubscribe(ctx, t)
}

func (f *faultyEngine) Close() error { return f.store().Close() }

// flush replaces the store with an empty one (new epochs), resubscribes, and reports the lost
// live feed, as an engine does after reconnecting to a flushed broker.
func (f *faultyEngine) flush(t *testing.T) {
	fresh := memory.New(memory.Options{})
	if err := fresh.Start(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	old := f.inner
	f.inner = fresh
	topics := append([]herald.Topic(nil), f.topic...)
	f.mu.Unlock()
	old.Close()
	for _, tp := range topics {
		fresh.Subscribe(context.Background(), tp)
	}
	f.sink.Resync()
}

// drain collects the frames queued on c until n event or reset frames arrived.
func drain(t *testing.T, c *Conn, n int) []*frame {
	t.Helper()
	var got []*frame
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n {
		for _, e := range c.take() {
			if e.f.kind != kindHeartbeat {
				got = append(got, e.f)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d frames, want %d", len(got), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return got
}

func startHub(t *testing.T, eng herald.Engine) *Hub {
	t.Helper()
	h := New(Options{Engine: eng})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); eng.Close() })
	return h
}

func publishN(t *testing.T, eng herald.Engine, topic herald.Topic, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := eng.Publish(context.Background(), []herald.Message{{Topic: topic, Data: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLostLiveEventsAreFilledFromHistory(t *testing.T) {
	eng := newFaultyEngine()
	var n atomic.Int64
	eng.drop = func(*herald.Event) bool { return n.Add(1)%3 == 0 } // every third live event is lost
	h := startHub(t, eng)
	conns := liveConns(t, h, "chain", 3)
	publishN(t, eng, "chain", 1, 30)
	for _, c := range conns {
		frames := drain(t, c, 30)
		for i, f := range frames {
			if f.kind != kindEvent || f.pos.Seq != uint64(i+1) {
				t.Fatalf("frame %d: kind %d seq %d, want event %d: the node's chain has a gap or a duplicate", i, f.kind, f.pos.Seq, i+1)
			}
		}
		if extra := c.take(); len(extra) != 0 {
			t.Fatalf("%d frames beyond the 30 events", len(extra))
		}
	}
}

func TestDuplicateLiveEventsAreDropped(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	eng.drop = func(ev *herald.Event) bool {
		h.Deliver(ev) // every live event arrives twice
		return false
	}
	c := liveConns(t, h, "dup", 1)[0]
	publishN(t, eng, "dup", 1, 10)
	frames := drain(t, c, 10)
	for i, f := range frames {
		if f.pos.Seq != uint64(i+1) {
			t.Fatalf("frame %d has seq %d", i, f.pos.Seq)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if extra := c.take(); len(extra) != 0 {
		t.Fatalf("%d duplicate frames", len(extra))
	}
}

func TestFlushedHistoryBecomesReset(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	c := liveConns(t, h, "flush", 1)[0]
	publishN(t, eng, "flush", 1, 3)
	before := drain(t, c, 3)
	eng.flush(t)
	publishN(t, eng, "flush", 4, 5) // the new epoch starts at seq 1 again
	reset := drain(t, c, 1)[0]
	if reset.kind != kindReset || reset.pos.Epoch == before[0].pos.Epoch || reset.pos.Epoch == "" {
		t.Fatalf("first frame after the flush: kind %d pos %v, want a reset into the new epoch", reset.kind, reset.pos)
	}
	// Then the live stream of the new epoch continues from the reset's position.
	publishN(t, eng, "flush", 6, 6)
	for {
		f := drain(t, c, 1)[0]
		if f.kind != kindEvent || f.pos.Epoch != reset.pos.Epoch || f.pos.Seq <= reset.pos.Seq {
			t.Fatalf("after the reset at %v: kind %d pos %v", reset.pos, f.kind, f.pos)
		}
		if f.pos.Seq == 3 {
			break
		}
	}
}

func TestResyncWithNothingMissedSendsNothing(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	c := liveConns(t, h, "quiet", 1)[0]
	publishN(t, eng, "quiet", 1, 2)
	drain(t, c, 2)
	h.Resync()
	time.Sleep(50 * time.Millisecond)
	if extra := c.take(); len(extra) != 0 {
		t.Fatalf("resync with nothing missed queued %d frames", len(extra))
	}
}

func TestSubscriptionFollowsReferences(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	conns := liveConns(t, h, "refs", 2)
	if h.Topics() != 1 {
		t.Fatalf("topics = %d", h.Topics())
	}
	for _, c := range conns {
		c.finish(ReasonClientClosed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Topics() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("topic still held after its last connection left")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A new subscriber brings the topic back and sees new events.
	c := liveConns(t, h, "refs", 1)[0]
	publishN(t, eng, "refs", 1, 1)
	if f := drain(t, c, 1); f[0].pos.Seq != 1 {
		t.Fatalf("seq %d", f[0].pos.Seq)
	}
}
