package js_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/server"
)

// TestSharedStream opens five tabs of one origin with overlapping topics, in each sharing
// mode the library picks by itself: a SharedWorker; Web Locks + BroadcastChannel when the page
// has no SharedWorker; a stream per tab when it has neither. Shared, the node must see one
// stream. Every tab gets every event of its topics once, in order, also while the first
// (leading) tab closes mid-stream and when a tab adds a topic.
func TestSharedStream(t *testing.T) {
	t.Parallel() // the three browser tests take ~25 s together instead of ~45 s
	for _, tc := range []struct {
		name, query, mode string
		shared            bool // one stream for all tabs; else one per tab
	}{
		{"worker", "", "worker", true},
		{"locks", "?nosw", "locks", true},
		{"tab", "?nosw&nolocks", "tab", false},
		// A page whose CSP refuses workers: the SharedWorker fails to start.
		{"worker refused", "?csp", "locks", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "")
			b := browsertest.Start(t)
			sets := [][]herald.Topic{{"a", "b"}, {"b", "c"}, {"a", "c"}, {"a"}, {"a", "b", "c"}}
			var tabs []*tab
			for i, topics := range sets {
				tb := openTab(t, b, n.URL+"/t"+tc.query, fmt.Sprintf("tab%d", i))
				tb.eval(t, "T.start()", nil)
				tb.subscribe(t, "s", topics...)
				tabs = append(tabs, tb)
			}
			// A subscription to a topic the stream already carries joins it live: wait until
			// the hub has answered every tab's subscription (its status reaches the tab).
			waitFor(t, "every tab live", 20*time.Second, func() (bool, error) {
				for _, tb := range tabs {
					var status string
					tb.eval(t, "T.status", &status)
					if status != "live" {
						return false, nil
					}
				}
				return true, nil
			})
			for range 10 {
				n.publish(t, false, "a", "b", "c")
			}
			conns := func() float64 {
				if tc.shared {
					return 1
				}
				return float64(len(tabs))
			}
			waitDelivered(t, n, tabs)
			waitConnections(t, n, conns())
			for _, tb := range tabs {
				var mode string
				tb.eval(t, "T.h.mode", &mode)
				if mode != tc.mode {
					t.Errorf("%s: sharing mode %q, want %q", tb.name, mode, tc.mode)
				}
			}
			opened := n.metric(t, "herald_connections_total")
			t.Logf("%s: 5 tabs, 30 events each of 3 topics delivered; herald_connections=%v; streams opened so far: %v", tc.name, conns(), opened)

			// The first tab (the worker's creator, or the elected leader) closes while a
			// publisher keeps going.
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range 40 {
					n.publish(t, false, "a", "b", "c")
					if i == 10 {
						tabs[0].close()
					}
					time.Sleep(15 * time.Millisecond)
				}
			}()
			<-done
			tabs = tabs[1:]
			waitDelivered(t, n, tabs)
			waitConnections(t, n, conns())
			after := n.metric(t, "herald_connections_total")
			t.Logf("%s: first tab closed mid-stream: 120 more events delivered once, in order; streams opened meanwhile: %v", tc.name, after-opened)
			if tc.mode == "locks" && after == opened {
				t.Errorf("locks: no new stream after the leader closed (herald_connections_total stayed %v)", after)
			}

			// tab3 (topic a only) adds topic d; the others must not see d.
			tabs[2].subscribe(t, "d", "d")
			for range 10 {
				n.publish(t, false, "d", "a")
			}
			waitDelivered(t, n, tabs)
			waitConnections(t, n, conns())
			for _, tb := range tabs {
				var resets, errs []string
				tb.eval(t, "T.resets", &resets)
				tb.eval(t, "T.errors", &errs)
				if len(resets)+len(errs) > 0 {
					t.Errorf("%s: resets %v, errors %v", tb.name, resets, errs)
				}
			}
		})
	}
}

// TestReconnects runs a shared stream through Herald's max lifetime (streams end every ~0.7 s)
// and a cut of every connection, as a proxy restart would do, while events keep coming: the
// library reopens with its cursor each time, and every tab still gets every event once, in
// order.
func TestReconnects(t *testing.T) {
	t.Parallel()
	n := startNode(t, "", func(c *server.Config) {
		c.MaxLifetime = 700 * time.Millisecond
		c.Heartbeat = 200 * time.Millisecond // lifetimes are checked on the heartbeat tick
	})
	b := browsertest.Start(t)
	var tabs []*tab
	for i, topics := range [][]herald.Topic{{"a", "b"}, {"b"}} {
		tb := openTab(t, b, n.URL+"/t", fmt.Sprintf("tab%d", i))
		tb.eval(t, "T.start()", nil)
		tb.subscribe(t, "s", topics...)
		tabs = append(tabs, tb)
	}
	waitConnections(t, n, 1)
	opened := n.metric(t, "herald_connections_total")
	for i := range 100 {
		n.publish(t, false, "a", "b")
		if i == 50 {
			n.lis.CloseAll()
		}
		time.Sleep(25 * time.Millisecond)
	}
	waitDelivered(t, n, tabs)
	var statuses []string
	tabs[1].eval(t, "T.statuses", &statuses)
	reopened := n.metric(t, "herald_connections_total") - opened
	t.Logf("200 events over ~3 s with 0.7 s lifetimes and one cut: delivered once, in order; streams reopened: %v; statuses %v", reopened, statuses)
	if reopened < 3 || !slices.Contains(statuses, "reconnecting") {
		t.Errorf("streams reopened %v, statuses %v: want several reopens, seen as reconnecting", reopened, statuses)
	}
}
