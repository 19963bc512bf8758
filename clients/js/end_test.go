package js_test

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/browsertest"
)

// TestFinalEndsSubscription publishes a task's final event while its topic shares the stream
// with another tab's topic: the task's subscription ends (the server says so only to a probe)
// and the stream goes on for the other. Then the other topic's final event ends the whole
// stream: onEnd, status "ended", after one request answered 204, and nothing reconnects.
func TestFinalEndsSubscription(t *testing.T) {
	t.Parallel()
	n := startNode(t, "")
	b := browsertest.Start(t)
	task := openTab(t, b, n.URL+"/t", "task-tab")
	feed := openTab(t, b, n.URL+"/t", "feed-tab")
	for _, tb := range []*tab{task, feed} {
		tb.eval(t, `T.start()`, nil)
	}
	task.subscribe(t, "task", "scan:42")
	feed.subscribe(t, "feed", "raffle:1")
	waitConnections(t, n, 1)
	n.publish(t, false, "scan:42", "raffle:1", "scan:42")
	n.publish(t, true, "scan:42")
	n.publish(t, false, "raffle:1")
	tabs := []*tab{task, feed}
	waitDelivered(t, n, tabs)
	ends := func(tb *tab) (st struct {
		Ends   []string `json:"ends"`
		Status string   `json:"status"`
	}) {
		tb.eval(t, `({ends: T.ends, status: T.status})`, &st)
		return st
	}
	waitFor(t, "the task's onEnd", 20*time.Second, func() (bool, error) {
		return slices.Equal(ends(task).Ends, []string{"task"}), nil
	})
	if st := ends(feed); len(st.Ends) != 0 {
		t.Fatalf("feed tab after the task ended: ends %v, status %q; want none", st.Ends, st.Status)
	}
	n.publish(t, false, "raffle:1")
	waitDelivered(t, n, tabs)
	waitConnections(t, n, 1)
	if st := ends(feed); st.Status != "live" {
		t.Errorf("feed tab status %q after the task ended, want live", st.Status)
	}
	t.Logf("shared stream: the task's final event ended its subscription (after %d probes); the feed goes on", n.probes.Load())

	n.publish(t, true, "raffle:1")
	waitDelivered(t, n, tabs)
	waitFor(t, "the feed's onEnd and status ended", 20*time.Second, func() (bool, error) {
		st := ends(feed)
		return slices.Equal(st.Ends, []string{"feed"}) && st.Status == "ended", nil
	})
	waitConnections(t, n, 0)
	streams, ended := n.streams.Load(), n.ended.Load()
	// The server's retry is 200 ms: a library that reconnected would do so within a second.
	time.Sleep(time.Second)
	if got := n.streams.Load(); got != streams || ended != 1 {
		t.Errorf("stream requests: %d at the end, %d a second later, answered 204: %d; want no more after the one 204",
			streams, got, ended)
	}
	t.Logf("last topic's final event: onEnd fired, status ended, %d stream requests in all, the last answered 204, none after", streams)
}
