package mercure_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/server"
)

// balancer is a round-robin load balancer without sticky sessions in front of the nodes: each
// request goes to the next node. It serves the page that subscribes (so the cookie is
// first-party), can cut every open stream, and can hold new requests back.
type balancer struct {
	nodes []*clustertest.Node
	page  string
	token string

	mu      sync.Mutex
	next    int
	cancels map[*http.Request]context.CancelFunc
	held    chan struct{} // closed: requests pass
	lastIDs []string      // Last-Event-ID of each stream request, in order
	served  []int         // the node of each stream request
}

func newBalancer(t *testing.T, nodes []*clustertest.Node, page, token string) *httptest.Server {
	lb := &balancer{nodes: nodes, page: page, token: token, cancels: map[*http.Request]context.CancelFunc{}, held: make(chan struct{})}
	close(lb.held)
	ts := httptest.NewServer(lb)
	t.Cleanup(func() {
		lb.hold() // the browser's reconnects wait (until their connection closes)
		lb.cut()
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		// The application sets the subscriber's token in the cookie, HttpOnly, for the hub's
		// path, as Symfony's Authorization::setCookie does.
		http.SetCookie(w, &http.Cookie{Name: mercure.DefaultCookie, Value: lb.token, Path: mercure.Path, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(lb.page))
		return
	}
	if r.URL.Path != mercure.Path {
		http.NotFound(w, r) // e.g. /favicon.ico: only the hub's requests take a turn
		return
	}
	lb.mu.Lock()
	held := lb.held
	lb.mu.Unlock()
	select {
	case <-held:
	case <-r.Context().Done():
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	lb.mu.Lock()
	n := lb.next % len(lb.nodes)
	lb.next++
	lb.cancels[r] = cancel
	if r.Method == http.MethodGet {
		lb.lastIDs = append(lb.lastIDs, r.Header.Get("Last-Event-ID"))
		lb.served = append(lb.served, n)
	}
	lb.mu.Unlock()
	defer func() {
		lb.mu.Lock()
		delete(lb.cancels, r)
		lb.mu.Unlock()
	}()
	target, _ := url.Parse(lb.nodes[n].URL)
	p := httputil.NewSingleHostReverseProxy(target)
	p.FlushInterval = -1
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {}
	p.ServeHTTP(w, r.WithContext(ctx))
}

// hold makes new requests wait; cut ends every open one (the browser sees its stream end).
func (lb *balancer) hold() {
	lb.mu.Lock()
	lb.held = make(chan struct{})
	lb.mu.Unlock()
}

func (lb *balancer) release() {
	lb.mu.Lock()
	close(lb.held)
	lb.mu.Unlock()
}

func (lb *balancer) cut() {
	lb.mu.Lock()
	for _, c := range lb.cancels {
		c()
	}
	lb.mu.Unlock()
}

const browserPage = `<!doctype html><meta charset="utf-8"><title>mercure</title>
<pre id="log"></pre>
<script>
window.got = []; window.opens = 0;
const es = new EventSource('/.well-known/mercure?topic=' + encodeURIComponent('https://example.com/books/{id}'), {withCredentials: true});
es.onopen = () => { window.opens++; };
const record = (e) => {
  window.got.push({id: e.lastEventId, type: e.type, data: e.data});
  document.getElementById('log').textContent += e.lastEventId + ' ' + e.type + ' ' + e.data + '\n';
};
es.onmessage = record;
es.addEventListener('book.updated', record);
</script>`

type received struct {
	ID, Type, Data string
}

// TestBrowserEventSource: Chromium's EventSource subscribes through a load balancer to three
// nodes with the cookie, receives public and private updates, and after each cut reconnects
// to the next node with Last-Event-ID and gets exactly the updates it missed, on Redis and on
// NATS.
func TestBrowserEventSource(t *testing.T) {
	b := browsertest.Start(t)
	for _, broker := range []string{"redis", "nats"} {
		t.Run(broker, func(t *testing.T) { browserScenario(t, b, broker) })
	}
}

func browserScenario(t *testing.T, b *browsertest.Browser, broker string) {
	var br clustertest.Broker
	switch broker {
	case "redis":
		br = redisBroker(t)
	case "nats":
		br = natsBroker(t)
	}
	cfg := server.Config{Mercure: mercureConfig(), Drain: 100 * time.Millisecond}
	cfg.Mercure.Anonymous = false
	nodes := clustertest.StartNodes(t, br, 3, cfg)
	subTok := token(t, subKey, map[string]any{"subscribe": []string{"https://example.com/books/{id}"}})
	lbts := newBalancer(t, nodes, browserPage, subTok)
	lb := lbts.Config.Handler.(*balancer)

	ctx, cancel := context.WithTimeout(b.NewTab(), 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(lbts.URL+"/"), waitJS(`window.opens >= 1`, 15*time.Second)); err != nil {
		t.Fatalf("browser: open the stream: %v", err)
	}
	var want []received
	pub := func(node int, f url.Values) {
		id := mustPublish(t, nodes[node].URL, f)
		typ := f.Get("type")
		if typ == "" {
			typ = "message"
		}
		want = append(want, received{id, typ, f.Get("data")})
	}
	waitGot := func(step string) {
		t.Helper()
		if err := chromedp.Do(ctx, waitJS(`window.got.length >= `+itoa(len(want)), 20*time.Second)); err != nil {
			t.Fatalf("%s: browser got %s, want %d events: %v", step, evalGot(t, ctx), len(want), err)
		}
		var got []received
		if err := json.Unmarshal([]byte(evalGot(t, ctx)), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: got %d events %v, want %v", step, len(got), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: event %d is %+v, want %+v (all: %+v)", step, i, got[i], want[i], got)
			}
		}
	}

	pub(0, form("topic", "https://example.com/books/1", "data", "one", "retry", "200"))
	pub(1, form("topic", "https://example.com/books/2", "data", "two", "private", "on", "type", "book.updated"))
	pub(2, form("topic", "https://example.com/authors/9", "topic", "https://example.com/books/3", "data", "three"))
	waitGot("live")

	for round := 0; round < 2; round++ {
		lastSeen := want[len(want)-1].ID
		lb.hold()
		lb.cut()
		pub(round%3, form("topic", "https://example.com/books/10", "data", "missed a "+itoa(round)))
		pub((round+1)%3, form("topic", "https://example.com/books/11", "data", "missed b "+itoa(round), "private", "on"))
		lb.release()
		waitGot("resume " + itoa(round))
		lb.mu.Lock()
		ids, served := append([]string(nil), lb.lastIDs...), append([]int(nil), lb.served...)
		lb.mu.Unlock()
		if got := ids[len(ids)-1]; got != lastSeen {
			t.Fatalf("reconnect %d sent Last-Event-ID %q, want %q", round, got, lastSeen)
		}
		if len(served) < 2 || served[len(served)-1] == served[len(served)-2] {
			t.Fatalf("reconnect %d stayed on node %v", round, served)
		}
		pub(2, form("topic", "https://example.com/books/12", "data", "live again "+itoa(round)))
		waitGot("live after resume " + itoa(round))
	}
	b.Screenshot(ctx, broker)
}

func evalGot(t *testing.T, ctx context.Context) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.got.map(e => ({ID: e.id, Type: e.type, Data: e.data})))`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

func waitJS(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))
}

func itoa(i int) string { return strconv.Itoa(i) }
