package js_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/browsertest"
)

// tab is one page of the test origin in the browser.
type tab struct {
	name  string
	ctx   context.Context
	close context.CancelFunc
	subs  map[string][]herald.Topic // subscription name → topics
}

func openTab(t *testing.T, b *browsertest.Browser, url, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	t.Cleanup(cancel)
	// The first action creates the tab, which lives as long as that call's context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 40*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(url), chromedp.Poll[chromedp.Void](`window.T && T.ready`)); err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return &tab{name: name, ctx: ctx, close: cancel, subs: map[string][]herald.Topic{}}
}

// eval evaluates expr in the tab and decodes its value into out (nil to ignore it).
func (tb *tab) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		t.Fatalf("%s: eval %q: %v", tb.name, expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: decode %s: %v", tb.name, raw, err)
		}
	}
}

func (tb *tab) subscribe(t *testing.T, name string, topics ...herald.Topic) {
	t.Helper()
	js, _ := json.Marshal(topics)
	tb.eval(t, fmt.Sprintf("T.subscribe(%q, %s)", name, js), nil)
	tb.subs[name] = topics
}

// check compares what each subscription of the tab received with what was published: ok
// when complete, an error when something is doubled, out of order or foreign.
func (tb *tab) check(t *testing.T, n *node) (ok bool, err error) {
	t.Helper()
	var got map[string][]string
	tb.eval(t, "T.got", &got)
	ok = true
	for name, topics := range tb.subs {
		want := n.want(topics...)
		per := map[herald.Topic][]string{}
		for _, e := range got[name] {
			tp, _, _ := strings.Cut(e, " ")
			if !slices.Contains(topics, herald.Topic(tp)) {
				return false, fmt.Errorf("%s/%s got %q, not of its topics %v", tb.name, name, e, topics)
			}
			per[herald.Topic(tp)] = append(per[herald.Topic(tp)], e)
		}
		for _, tp := range topics {
			g, w := per[tp], want[tp]
			if len(g) > len(w) || !slices.Equal(g, w[:len(g)]) {
				return false, fmt.Errorf("%s/%s topic %s: got %v, want (a prefix of) %v", tb.name, name, tp, g, w)
			}
			if len(g) < len(w) {
				ok = false
			}
		}
	}
	return ok, nil
}

// waitFor polls cond every 50 ms until it reports true, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDelivered waits until every open tab has received everything published to its topics,
// exactly once and in order.
func waitDelivered(t *testing.T, n *node, tabs []*tab) {
	t.Helper()
	var missing []string
	defer func() {
		if t.Failed() {
			t.Logf("incomplete: %v", missing)
		}
	}()
	waitFor(t, "every tab receives its topics' events", 30*time.Second, func() (bool, error) {
		missing = missing[:0]
		for _, tb := range tabs {
			ok, err := tb.check(t, n)
			if err != nil {
				return false, err
			}
			if !ok {
				var st struct {
					Got    map[string][]string `json:"got"`
					Status string              `json:"status"`
					Errors []string            `json:"errors"`
				}
				tb.eval(t, `({got: T.got, status: T.status, errors: T.errors})`, &st)
				missing = append(missing, fmt.Sprintf("%s: %+v", tb.name, st))
			}
		}
		return len(missing) == 0, nil
	})
}

func waitConnections(t *testing.T, n *node, want float64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("herald_connections reads %v", want), 20*time.Second, func() (bool, error) {
		return n.metric(t, "herald_connections") == want, nil
	})
}
