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

// Recorder is a herald.Sink that keeps a copy of every delivered event per topic, checks the
// Sink contract as events arrive (per topic: no concurrent Deliver calls, strictly
// increasing Seq within an epoch) and lets a test wait for deliveries without sleeping.
type Recorder struct {
	mu       sync.Mutex
	events   map[herald.Topic][]herald.Event
	inFlight map[herald.Topic]bool
	problems []string
	resyncs  int
	changed  chan struct{} // closed and replaced on every delivery
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
	if prev := r.events[ev.Topic]; len(prev) > 0 {
		last := prev[len(prev)-1]
		if last.Epoch == c.Epoch && c.Seq <= last.Seq {
			r.problems = append(r.problems, fmt.Sprintf("topic %q: delivered %s after %s (out of order or duplicate)",
				ev.Topic, c.ID(), last.ID()))
		}
	}
	r.events[ev.Topic] = append(r.events[ev.Topic], c)
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
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := len(r.events[topic])
		changed := r.changed
		r.mu.Unlock()
		if got >= n {
			return r.Events(topic)
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
}
