package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/sse"
)

// pipeStream is a Stream into an io.Pipe, so a test reads a Conn's bytes as a client would.
type pipeStream struct{ w *io.PipeWriter }

func (p pipeStream) Write(b []byte, _ time.Time) error { _, err := p.w.Write(b); return err }
func (p pipeStream) Interrupt()                        { p.w.CloseWithError(errors.New("interrupted")) }

// testStream is a stream run by its own goroutine (Conn.Run) and parsed by another.
type testStream struct {
	events   chan sse.Event // events with a name or data (id-only blocks set the cursor only)
	comments chan string
	leave    chan struct{} // closed: the client goes away
	reason   chan Reason
}

// openStream opens req on h and runs it as a goroutine-mode stream until the test ends.
func openStream(t *testing.T, h *Hub, req Request) *testStream {
	t.Helper()
	pr, pw := io.Pipe()
	s := &testStream{events: make(chan sse.Event, 4096), comments: make(chan string, 4096),
		leave: make(chan struct{}), reason: make(chan Reason, 1)}
	c := h.Open(context.Background(), req)
	go func() {
		s.reason <- c.Run(s.leave, pipeStream{pw})
		pw.Close()
	}()
	go func() {
		defer close(s.events)
		r := sse.NewReader(pr)
		r.OnComment(func(text []byte) {
			select {
			case s.comments <- string(text):
			default:
			}
		})
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if ev.Name != "" || len(ev.Data) > 0 {
				ev.Data = bytes.Clone(ev.Data) // the reader reuses its buffer
				s.events <- ev
			}
		}
	}()
	t.Cleanup(func() {
		close(s.leave)
		pr.Close()
	})
	select {
	case <-s.comments: // the response went out (":ok"): what is published from now on is ours
	case <-time.After(5 * time.Second):
		t.Fatal("no preamble within 5 s")
	}
	return s
}

// next returns the stream's next event, failing the test after 5 s.
func (s *testStream) next(t *testing.T) sse.Event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sse.Event{}
}

// expect checks that the next events carry data want, in order, and nothing else.
func (s *testStream) expect(t *testing.T, want ...string) []sse.Event {
	t.Helper()
	var got []sse.Event
	for _, w := range want {
		ev := s.next(t)
		if ev.Name != "" || string(ev.Data) != w {
			t.Fatalf("got event %q %q (id %s), want data %q", ev.Name, ev.Data, ev.ID, w)
		}
		got = append(got, ev)
	}
	return got
}

// position returns the position of topic's event number seq in eng's history.
func position(t *testing.T, eng herald.Engine, topic herald.Topic, seq uint64) herald.Position {
	t.Helper()
	h, err := eng.History(context.Background(), topic, seq-1, 1)
	if err != nil || len(h.Events) != 1 {
		t.Fatalf("history of %s after %d: %v %v", topic, seq-1, h, err)
	}
	return h.Events[0].Position
}

// A client that saw an event on another node reconnects here before this node's live feed
// carried it: its cursor is ahead of the node. That is lag, not a malformed cursor: the node
// catches up and the stream goes on with the next event — no reset, no event twice.
func TestCursorAheadOfALaggingNodeIsNotReset(t *testing.T) {
	eng := newFaultyEngine()
	var stalled atomic.Bool
	eng.drop = func(*herald.Event) bool { return stalled.Load() } // the node's live feed stalls
	h := startHub(t, eng)
	watcher := openStream(t, h, Request{Topics: []herald.Topic{"lag"}}) // keeps the topic followed
	publishN(t, eng, "lag", 1, 1)
	watcher.expect(t, "1")

	stalled.Store(true)
	publishN(t, eng, "lag", 2, 3)
	seen := position(t, eng, "lag", 3) // the client saw event 3 on another node
	s := openStream(t, h, Request{Topics: []herald.Topic{"lag"}, Cursor: herald.Cursor{seen}})
	stalled.Store(false)
	publishN(t, eng, "lag", 4, 4)
	s.expect(t, "4")
	watcher.expect(t, "2", "3", "4")

	// A cursor beyond the cluster's head is still malformed.
	forged := herald.Position{Epoch: seen.Epoch, Seq: 100}
	f := openStream(t, h, Request{Topics: []herald.Topic{"lag"}, Cursor: herald.Cursor{forged}})
	if ev := f.next(t); ev.Name != herald.ResetEventName || !strings.Contains(string(ev.Data), string(ResetMalformed)) {
		t.Fatalf("cursor past the cluster's head: got %q %q, want a malformed reset", ev.Name, ev.Data)
	}
}

// While a topic fills a gap, its live events are held and spliced in by Prev: a topic that
// receives events faster than one history round trip is not stuck re-reading history.
func TestBusyTopicFillsWithOneHistoryRead(t *testing.T) {
	eng := newFaultyEngine()
	eng.histDelay = 5 * time.Millisecond                           // a broker round trip
	eng.drop = func(ev *herald.Event) bool { return ev.Seq == 10 } // one lost live event: a gap
	h := startHub(t, eng)
	s := openStream(t, h, Request{Topics: []herald.Topic{"busy"}})
	publishN(t, eng, "busy", 1, 1)
	s.expect(t, "1")
	before := eng.histCalls.Load()
	const n = 300
	want := make([]string, 0, n)
	for i := 2; i <= n; i++ {
		publishN(t, eng, "busy", i, i)
		want = append(want, fmt.Sprint(i))
		time.Sleep(200 * time.Microsecond) // pace the publisher: several events per round trip
	}
	s.expect(t, want...)
	if reads := eng.histCalls.Load() - before; reads > 5 {
		t.Fatalf("%d history reads to fill one gap in a busy topic, want a few", reads)
	}
}

// A stream without a cursor whose response went out while the engine subscription was still
// failing gets every event accepted after that response, even one published before this node
// managed to subscribe.
func TestStreamOpenedDuringOutageGetsEventsSinceItsResponse(t *testing.T) {
	eng := newFaultyEngine()
	eng.down.Store(true)
	h := New(Options{Engine: eng, ReadyWait: 20 * time.Millisecond, ClockSkew: time.Microsecond})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(); eng.Close() })
	publishN(t, eng, "late", 0, 0) // before the stream: not for it
	s := openStream(t, h, Request{Topics: []herald.Topic{"late"}})
	publishN(t, eng, "late", 1, 1) // another node published; this one cannot subscribe yet
	eng.down.Store(false)
	h.Resync()
	publishN(t, eng, "late", 2, 2)
	s.expect(t, "1", "2")
}

// A subscription that failed retries at once when the engine reports its connection back,
// instead of sleeping out its back-off.
func TestSubscribeRetriesAtOnceOnResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng := newFaultyEngine()
		eng.down.Store(true)
		h := New(Options{Engine: eng})
		if err := h.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := h.Open(t.Context(), Request{Topics: []herald.Topic{"retry"}})
		time.Sleep(10 * time.Second) // the back-off has grown to its ceiling
		calls := eng.subCalls.Load()
		eng.down.Store(false)
		h.Resync()
		synctest.Wait()
		if eng.subCalls.Load() == calls {
			t.Fatal("the subscription waited out its back-off after Resync")
		}
		if !c.awaitTopics(closedChan, nil) {
			t.Fatal("topic not ready after the engine came back")
		}
		c.Release()
		h.Close()
		eng.Close()
	})
}

// recordStream records when each write happened.
type recordStream struct {
	mu    sync.Mutex
	times []time.Time
	bufs  []string
}

func (r *recordStream) Write(b []byte, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times = append(r.times, time.Now())
	r.bufs = append(r.bufs, string(b))
	return nil
}
func (r *recordStream) Interrupt() {}

// Heartbeats come every interval within ±10%, whatever the phase of the stream's last write
// against the housekeeping tick.
func TestHeartbeatsComeOnTime(t *testing.T) {
	for _, hb := range []time.Duration{500 * time.Millisecond, time.Second, 15 * time.Second} {
		t.Run(hb.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				eng := memory.New(memory.Options{})
				h := New(Options{Engine: eng, Heartbeat: hb})
				if err := h.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				time.Sleep(hb * 3 / 10) // the stream starts out of phase with the tick
				rec := &recordStream{}
				c := h.Open(t.Context(), Request{Topics: []herald.Topic{"hb"}})
				leave := make(chan struct{})
				done := make(chan struct{})
				go func() { c.Run(leave, rec); close(done) }()
				time.Sleep(10 * hb)
				close(leave)
				<-done
				h.Close()
				eng.Close()

				rec.mu.Lock()
				defer rec.mu.Unlock()
				if len(rec.times) < 10 {
					t.Fatalf("%d writes in 10 intervals", len(rec.times))
				}
				for i := 2; i < len(rec.times); i++ { // after the preamble and the id block
					gap := rec.times[i].Sub(rec.times[i-1])
					if gap < hb*9/10 || gap > hb*11/10 {
						t.Errorf("write %d (%q) came %v after the one before, want %v ±10%%", i, rec.bufs[i], gap, hb)
					}
				}
			})
		})
	}
}

// A feed that delivers some events after their successor (nats-server 2.9 republishing
// concurrent appends) still reaches subscribers in order, each event once.
func TestReorderedLiveEventsComeOutInOrder(t *testing.T) {
	eng := newFaultyEngine()
	var h *Hub
	var stash *herald.Event
	eng.drop = func(ev *herald.Event) bool {
		switch {
		case ev.Seq%5 == 0: // held back: it comes after the next one
			c := *ev
			c.Data = bytes.Clone(ev.Data)
			stash = &c
			return true
		case stash != nil:
			h.Deliver(ev)
			h.Deliver(stash)
			stash = nil
			return true
		}
		return false
	}
	h = startHub(t, eng)
	s := openStream(t, h, Request{Topics: []herald.Topic{"reorder"}})
	var want []string
	for i := 1; i <= 41; i++ {
		publishN(t, eng, "reorder", i, i)
		want = append(want, fmt.Sprint(i))
	}
	s.expect(t, want...)
	// The held events were spliced in and the fills ended: the topic is back to its idle
	// size, with no side struct.
	waitTopicIdle(t, h, "reorder")
}

// Close ends the goroutines that retry a failing engine subscription at once: none sleeps
// out its back-off and calls the engine after Close returned.
func TestCloseEndsRetryingSubscriptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		eng := newFaultyEngine()
		eng.down.Store(true)
		h := New(Options{Engine: eng})
		if err := h.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		c := h.Open(t.Context(), Request{Topics: []herald.Topic{"closing"}})
		time.Sleep(5 * time.Second) // retrying, with a back-off of seconds
		h.Close()
		calls := eng.subCalls.Load()
		time.Sleep(time.Minute)
		if got := eng.subCalls.Load(); got != calls {
			t.Fatalf("%d engine Subscribe calls after Close returned", got-calls)
		}
		c.Release()
		eng.Close()
	})
}

// A stream's replay that meets a failing engine (a broker restarting) waits for it, with
// heartbeats, instead of answering with a reset: nothing was lost.
func TestReplayWaitsOutABrokerRestart(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	watcher := openStream(t, h, Request{Topics: []herald.Topic{"restart"}}) // the node follows the topic
	publishN(t, eng, "restart", 1, 5)
	watcher.expect(t, "1", "2", "3", "4", "5")
	seen := position(t, eng, "restart", 2)
	eng.histFails.Store(3)
	s := openStream(t, h, Request{Topics: []herald.Topic{"restart"}, Cursor: herald.Cursor{seen}})
	s.expect(t, "3", "4", "5")
}
