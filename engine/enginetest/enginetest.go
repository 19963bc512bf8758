// Package enginetest is the conformance suite every Herald engine must pass: the memory
// engine, Redis and NATS run the same checks of the herald.Engine contract (ordering, the
// Prev chain, history and retention, final events, live delivery, dedup keys, data
// integrity, concurrency, and for shared stores cross-node delivery and the loss of history).
//
// An engine's test plugs in with a Factory:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, enginetest.Factory{
//			New: func(t *testing.T, ret herald.RetentionFunc) herald.Engine {
//				return myengine.New(myengine.Options{Addr: addr, Retention: ret})
//			},
//			MultiNode: true,
//			Wipe:      func(t *testing.T) { flushAll(t, addr) },
//		})
//	}
//
// The suite calls Start on every engine it gets, with its own Recorder as the sink, and
// Close when the subtest ends. Engines may deliver asynchronously: the suite waits for
// deliveries (up to Factory.Timeout), it never sleeps for them. Topic names are unique per
// Run, so engines sharing one backing store across subtests need no cleanup between them.
//
// Points of the contract that the suite pins down where herald.Engine's comments leave room:
//   - History returns events identical to those Publish returned: Time and SentTime included.
//   - A topic never published (even if subscribed) and a forgotten topic have the zero
//     TopicState; a topic all of whose events expired, with no subscriber, is forgotten
//     within the wait, and its next publish has a new epoch and Prev 0.
//   - A batch that hits a closed topic fails with a *herald.PublishError wrapping
//     herald.ErrTopicClosed whose Published counts the messages before it.
//   - A repeated Message.DedupKey in a topic returns the first event (across nodes too),
//     appends and delivers nothing.
//   - Data is copied at Publish: the caller may reuse its buffer at once.
//   - After Close, Publish, History and Subscribe fail with herald.ErrClosed.
//   - A Sink never gets concurrent Deliver calls for one topic, and unsubscribed topics are
//     not delivered. Every event published after Subscribe returned is delivered; an event
//     may also come twice, out of order, or from just before Subscribe (the hub drops and
//     reorders by Prev, hub/stitch.go). The Recorder keeps each event once, in order, and
//     logs how many came twice or out of order.
package enginetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// DefaultTimeout is how long the suite waits for a live delivery or an expiry when
// Factory.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Factory describes the engine under test.
type Factory struct {
	// New returns a new, unstarted engine node with the given retention. For a shared
	// store (Redis, NATS) every call must attach to the SAME store, so that two calls make
	// two nodes of one cluster; for an embedded store each call is independent and
	// MultiNode must be false. New may register cleanups with t; the suite itself calls
	// Start and Close.
	New func(t *testing.T, ret herald.RetentionFunc) herald.Engine
	// MultiNode reports that engines from New share their store: the cross-node checks
	// run only when it is true.
	MultiNode bool
	// Wipe, if not nil, makes the store lose all history (FLUSHALL, deleting streams) while
	// the engines stay up; the epoch checks run only when it is set.
	Wipe func(t *testing.T)
	// Timeout bounds each wait for a delivery or an expiry; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Run runs the whole suite against f, each check as a subtest.
func Run(t *testing.T, f Factory) {
	t.Helper()
	if f.New == nil {
		t.Fatal("enginetest: Factory.New is nil")
	}
	if f.Timeout <= 0 {
		f.Timeout = DefaultTimeout
	}
	s := &suite{f: f, run: randomID()}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Sequence", s.testSequence},
		{"Batch", s.testBatch},
		{"History", s.testHistory},
		{"RetentionSize", s.testRetentionSize},
		{"RetentionTTL", s.testRetentionTTL},
		{"Final", s.testFinal},
		{"Subscribe", s.testSubscribe},
		{"MultiNode", s.testMultiNode},
		{"Concurrency", s.testConcurrency},
		{"Dedup", s.testDedup},
		{"Wipe", s.testWipe},
		{"DataIntegrity", s.testDataIntegrity},
		{"Closed", s.testClosed},
	} {
		t.Run(c.name, c.fn)
	}
}

// suite holds one Run's state.
type suite struct {
	f     Factory
	run   string // unique per Run, prefixes every topic
	topic atomic.Int64
}

// node is a started engine and the recorder it delivers to.
type node struct {
	herald.Engine
	rec *Recorder
}

// node returns a started engine with retention ret (nil: large and long), closed when t
// ends; the recorder is checked for contract violations then too.
func (s *suite) node(t *testing.T, ret herald.RetentionFunc) *node {
	t.Helper()
	if ret == nil {
		ret = keep(100000, time.Hour)
	}
	e := s.f.New(t, ret)
	if e == nil {
		t.Fatal("enginetest: Factory.New returned nil")
	}
	rec := NewRecorder()
	if err := e.Start(t.Context(), rec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		rec.check(t)
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &node{Engine: e, rec: rec}
}

// newTopic returns a topic name no other test of any Run uses.
func (s *suite) newTopic(name string) herald.Topic {
	return herald.Topic(fmt.Sprintf("et%s:%s-%d", s.run, name, s.topic.Add(1)))
}

// keep returns a RetentionFunc giving every topic size events and ttl.
func keep(size int, ttl time.Duration) herald.RetentionFunc {
	return func(herald.Topic) herald.Retention { return herald.Retention{Size: size, TTL: ttl} }
}

// randomID returns 8 random characters of [0-9a-z].
func randomID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// msg returns a message with the given topic, name and data.
func msg(topic herald.Topic, name, data string) herald.Message {
	return herald.Message{Topic: topic, Name: herald.EventName(name), Data: []byte(data)}
}

// publish publishes msgs on e and fails the test on error.
func publish(t *testing.T, e herald.Engine, msgs ...herald.Message) []herald.Event {
	t.Helper()
	evs, err := e.Publish(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(evs) != len(msgs) {
		t.Fatalf("Publish returned %d events for %d messages", len(evs), len(msgs))
	}
	for i, ev := range evs {
		m := msgs[i]
		if ev.Topic != m.Topic || ev.Name != m.Name || !bytes.Equal(ev.Data, m.Data) || ev.Final != m.Final || ev.SentTime != m.SentTime {
			t.Fatalf("Publish event %d = %+v, does not match its message %+v", i, ev, m)
		}
	}
	return evs
}

// publishN publishes n events to topic one call at a time, with data "0", "1", ….
func publishN(t *testing.T, e herald.Engine, topic herald.Topic, n int) []herald.Event {
	t.Helper()
	evs := make([]herald.Event, 0, n)
	for i := range n {
		evs = append(evs, publish(t, e, msg(topic, "n", fmt.Sprint(i)))...)
	}
	return evs
}

// history reads topic's history and fails the test on error.
func history(t *testing.T, e herald.Engine, topic herald.Topic, after uint64, limit int) herald.History {
	t.Helper()
	h, err := e.History(t.Context(), topic, after, limit)
	if err != nil {
		t.Fatalf("History(%q, %d, %d): %v", topic, after, limit, err)
	}
	return h
}

// checkChain checks that evs form one epoch's contiguous chain: non-empty valid epoch,
// strictly increasing Seq, each Prev the previous Seq, the first Prev equal to prev.
func checkChain(t *testing.T, evs []herald.Event, prev uint64) {
	t.Helper()
	for i, ev := range evs {
		if ev.Epoch == "" || !herald.ValidEpoch(ev.Epoch) {
			t.Fatalf("event %d: invalid epoch %q", i, ev.Epoch)
		}
		if i > 0 && ev.Epoch != evs[0].Epoch {
			t.Fatalf("event %d: epoch %q changed from %q", i, ev.Epoch, evs[0].Epoch)
		}
		if ev.Prev != prev {
			t.Fatalf("event %d (%s): Prev = %d, want %d", i, ev.ID(), ev.Prev, prev)
		}
		if ev.Seq <= ev.Prev {
			t.Fatalf("event %d (%s): Seq not greater than Prev %d", i, ev.ID(), ev.Prev)
		}
		prev = ev.Seq
	}
}

// sameEvents fails the test unless got and want hold the same events (positions, Prev,
// name, data, final, times).
func sameEvents(t *testing.T, what string, got, want []herald.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events %s, want %d %s", what, len(got), ids(got), len(want), ids(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Topic != w.Topic || g.Position != w.Position || g.Prev != w.Prev || g.Name != w.Name ||
			!bytes.Equal(g.Data, w.Data) || g.Final != w.Final || g.Time != w.Time || g.SentTime != w.SentTime {
			t.Fatalf("%s: event %d =\n\t%+v\nwant\n\t%+v", what, i, g, w)
		}
	}
}

// ids returns the events' ids for messages.
func ids(evs []herald.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID()
	}
	return out
}

// poll calls cond until it returns true, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// HistoryData returns the data of every event of topic that e retains (up to 10,000), oldest
// first, failing the test when the read fails. For engine and bridge tests that check what was
// stored.
func HistoryData(t testing.TB, e herald.Engine, topic herald.Topic) []string {
	t.Helper()
	h, err := e.History(t.Context(), topic, 0, 10000)
	if err != nil {
		t.Fatalf("history of %s: %v", topic, err)
	}
	out := make([]string, 0, len(h.Events))
	for _, ev := range h.Events {
		out = append(out, string(ev.Data))
	}
	return out
}
