package enginetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Recorder is a herald.Sink that keeps what the hub would make of an engine's live feed:
// per topic, every delivered event once, in sequence order within an epoch. It checks the
// Sink contract as events arrive (per topic: no concurrent Deliver calls), counts the
// duplicates and reordered events the contract allows (the hub drops and reorders them by
// Prev), and lets a test wait for deliveries without sleeping.
type Recorder struct {
	mu        sync.Mutex
	events    map[herald.Topic][]herald.Event
	inFlight  map[herald.Topic]bool
	problems  []string
	resyncs   int
	dups      int           // events delivered again
	reordered int           // events delivered after a later one of their epoch
	changed   chan struct{} // closed and replaced on every delivery
}

var _ herald.Sink = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		events:   make(map[herald.Topic][]herald.Event),
		inFlight: make(map[herald.Topic]bool),
		changed:  make(chan struct{}),
	}
}

// Deliver records a copy of ev (Data included, as the Sink contract asks).
func (r *Recorder) Deliver(ev *herald.Event) {
	r.mu.Lock()
	if r.inFlight[ev.Topic] {
		r.problems = append(r.problems, fmt.Sprintf("concurrent Deliver calls for topic %q", ev.Topic))
	}
	r.inFlight[ev.Topic] = true
	r.mu.Unlock()

	c := *ev
	c.Data = bytes.Clone(ev.Data)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight[ev.Topic] = false
	evs := r.events[ev.Topic]
	// Place it after the last event of its epoch with a smaller Seq (the end, in order).
	at := len(evs)
	for at > 0 && evs[at-1].Epoch == c.Epoch && evs[at-1].Seq >= c.Seq {
		if evs[at-1].Seq == c.Seq {
			r.dups++
			return
		}
		at--
	}
	if at < len(evs) {
		r.reordered++
	}
	r.events[ev.Topic] = slices.Insert(evs, at, c)
	close(r.changed)
	r.changed = make(chan struct{})
}

// Resync counts calls; the suite reports them, since a healthy engine in a test has no reason
// to lose its feed.
func (r *Recorder) Resync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs++
}

// Events returns a copy of the events delivered so far for topic.
func (r *Recorder) Events(topic herald.Topic) []herald.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[topic])
}

// Problems returns the contract violations seen so far.
func (r *Recorder) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.problems)
}

// Resyncs returns how many times Resync was called.
func (r *Recorder) Resyncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resyncs
}

// Wait waits until at least n events of topic were delivered, or fails the test after
// timeout, and returns the events delivered by then.
func (r *Recorder) Wait(tb testing.TB, topic herald.Topic, n int, timeout time.Duration) []herald.Event {
	tb.Helper()
	return r.WaitAfter(tb, topic, 0, n, timeout)
}

// WaitAfter is Wait for the events of topic with Seq > after: an engine may also deliver
// events published just before Subscribe returned.
func (r *Recorder) WaitAfter(tb testing.TB, topic herald.Topic, after uint64, n int, timeout time.Duration) []herald.Event {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := 0
		for _, ev := range r.events[topic] {
			if ev.Seq > after {
				got++
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if got >= n {
			var evs []herald.Event
			for _, ev := range r.Events(topic) {
				if ev.Seq > after {
					evs = append(evs, ev)
				}
			}
			return evs
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("topic %q: %d of %d events delivered after %v", topic, got, n, timeout)
		}
	}
}

// check fails the test if the recorder saw a contract violation.
func (r *Recorder) check(tb testing.TB) {
	tb.Helper()
	for _, p := range r.Problems() {
		tb.Error("sink contract: " + p)
	}
	if n := r.Resyncs(); n > 0 {
		tb.Logf("sink: Resync called %d times", n)
	}
	r.mu.Lock()
	dups, reordered := r.dups, r.reordered
	r.mu.Unlock()
	if dups > 0 || reordered > 0 {
		tb.Logf("sink: %d events delivered twice, %d out of order (the hub mends both)", dups, reordered)
	}
}
