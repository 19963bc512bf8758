package js_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/web"
)

// These tests load herald.js, as Herald serves it at /herald.js, into Debian's headless
// Chromium: the tabs of one origin talk to a real Herald node (server.New over the memory
// engine, with the web pages mounted) on a loopback port. The test page (testdata/page.html)
// records what each subscription receives.

// node is a Herald node behind one httptest server, with the test page at /t and, when a JWT
// key is set, a token endpoint at /token.
type node struct {
	URL  string
	lis  *trackingListener
	pub  func(tp herald.Topic, data string, final bool) error
	mint func() (string, error)

	mu        sync.Mutex
	published map[herald.Topic][]string // data published per topic, in order

	streams atomic.Int32 // GET /v1/events requests
	denied  atomic.Int32 // of those, answered 401 or 403
	ended   atomic.Int32 // of those, answered 204
	mints   atomic.Int32 // tokens handed out by /token
	badKeys atomic.Int32 // the first badKeys tokens are signed with a key the node does not know
	probes  atomic.Int32 // HEAD /v1/events requests (has a topic ended?)
}

// tokenLife is the lifetime of the tokens /token mints.
const tokenLife = 5 * time.Second

func startNode(t *testing.T, jwtKey string, mods ...func(*server.Config)) *node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := server.Config{Retry: 200 * time.Millisecond, Drain: 100 * time.Millisecond}
	if jwtKey != "" {
		cfg.Auth = server.AuthConfig{JWTKey: jwtKey, JWTLeeway: -1} // a stream ends exactly at exp
	}
	for _, m := range mods {
		m(&cfg)
	}
	eng := memory.New(memory.Options{})
	srv, err := server.New(cfg, eng, server.Options{Logger: log, EngineName: "memory", Metrics: metrics.New(metrics.Options{})})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("server Start: %v", err)
	}
	pages := web.New(web.Options{Publish: eng.Publish, Logger: log})
	srv.Handle("/", pages)
	n := &node{published: map[herald.Topic][]string{}}
	n.pub = func(tp herald.Topic, data string, final bool) error {
		_, err := eng.Publish(context.Background(), []herald.Message{{Topic: tp, Data: []byte(data), Final: final}})
		return err
	}
	n.mint = func() (string, error) {
		now := time.Now()
		key := jwtKey
		if n.mints.Load() < n.badKeys.Load() {
			key = "some-other-signing-key-32-bytes!"
		}
		return auth.Mint([]byte(key), "HS256", auth.Claims{
			RegisteredClaims: jwt.RegisteredClaims{Subject: "u1", IssuedAt: jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(tokenLife))},
			Herald: auth.HeraldClaims{Subscribe: []string{"feed:*"}},
		})
	}
	n.front(t, srv.Handler())
	t.Cleanup(func() {
		_ = pages.Close()
		srv.Close()
		n.lis.closeAll()
		_ = eng.Close()
	})
	return n
}

// startBinaryNode runs the real binary: `herald serve` with a JWT key from HERALD_JWT_KEY,
// no leeway (a stream ends exactly at its token's exp) and a publisher API key, behind a
// reverse proxy that adds the test page; tokens come from `herald token`.
func startBinaryNode(t *testing.T) *node {
	t.Helper()
	const apiKey = "publisher-key-0123456789abcdef"
	env := []string{"HERALD_JWT_KEY=a-test-signing-key-of-32-bytes!!"}
	h := testserver.Herald(t, env, "--jwt-leeway=-1ns", "--api-key", apiKey, "--retry", "200ms")
	n := &node{published: map[herald.Topic][]string{}}
	n.pub = func(tp herald.Topic, data string, final bool) error {
		body, _ := json.Marshal(map[string]any{"topic": tp, "data": data, "final": final})
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/publish", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			return fmt.Errorf("publish: %s: %s", res.Status, b)
		}
		return nil
	}
	n.mint = func() (string, error) {
		return h.Token(env, "--sub", "u1", "--subscribe", "feed:*", "--ttl", tokenLife.String())
	}
	target, _ := url.Parse(h.URL)
	n.front(t, httputil.NewSingleHostReverseProxy(target)) // flushes text/event-stream at once
	t.Cleanup(n.lis.closeAll)
	return n
}

// front serves the test page at /t and tokens at /token, counts stream requests, and passes
// everything else to next (Herald).
func (n *node) front(t *testing.T, next http.Handler) {
	t.Helper()
	page, err := os.ReadFile("testdata/page.html")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/t":
			if r.URL.Query().Has("csp") {
				w.Header().Set("Content-Security-Policy", "worker-src 'none'")
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(page)
		case "/token":
			tok, err := n.mint()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			n.mints.Add(1)
			_, _ = io.WriteString(w, tok)
		case "/v1/events":
			if r.Method != http.MethodGet {
				n.probes.Add(1)
				next.ServeHTTP(w, r)
				return
			}
			n.streams.Add(1)
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			switch sw.code {
			case http.StatusUnauthorized, http.StatusForbidden:
				n.denied.Add(1)
			case http.StatusNoContent:
				n.ended.Add(1)
			}
		default:
			next.ServeHTTP(w, r)
		}
	}))
	// Track every accepted socket: live streams are hijacked off net/http, so only the
	// sockets themselves can be cut.
	n.lis = &trackingListener{Listener: ts.Listener, conns: map[net.Conn]struct{}{}}
	ts.Listener = n.lis
	ts.Start()
	n.URL = ts.URL
	t.Cleanup(ts.Close)
}

// trackingListener remembers the connections it accepted so that a test can cut them all, as
// a proxy restart would.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

// statusWriter records the status a handler wrote; Unwrap lets the server still hijack the
// connection for a detached stream.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// publish publishes one event per topic in order through the engine, as any publisher would.
func (n *node) publish(t *testing.T, final bool, topics ...herald.Topic) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, tp := range topics {
		data := fmt.Sprintf("%s#%d", tp, len(n.published[tp])+1)
		if err := n.pub(tp, data, final); err != nil {
			t.Errorf("publish %s: %v", tp, err)
			return
		}
		n.published[tp] = append(n.published[tp], data)
	}
}

// want is what a subscription of topics must have received: every event of its topics, in
// each topic's order, as the page records them ("topic data").
func (n *node) want(topics ...herald.Topic) map[herald.Topic][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	w := map[herald.Topic][]string{}
	for _, tp := range topics {
		for _, d := range n.published[tp] {
			w[tp] = append(w[tp], string(tp)+" "+d)
		}
	}
	return w
}

// metric reads one unlabelled sample from /metrics.
func (n *node) metric(t *testing.T, name string) float64 {
	t.Helper()
	res, err := http.Get(n.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not in /metrics", name)
	return 0
}

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
	tctx, tcancel := context.WithTimeout(ctx, 20*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(url), chromedp.Poll[chromedp.Void](`window.T && T.ready`)); err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return &tab{name: name, ctx: ctx, close: cancel, subs: map[string][]herald.Topic{}}
}

// eval evaluates expr in the tab and decodes its value into out (nil to ignore it).
func (tb *tab) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
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
	waitFor(t, "every tab receives its topics' events", 15*time.Second, func() (bool, error) {
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
	waitFor(t, fmt.Sprintf("herald_connections reads %v", want), 10*time.Second, func() (bool, error) {
		return n.metric(t, "herald_connections") == want, nil
	})
}

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
			waitFor(t, "every tab live", 10*time.Second, func() (bool, error) {
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

// TestTokenRenewal streams for 20 s from the real `herald serve --jwt-leeway=-1ns` with
// tokens from `herald token --ttl 5s`, the server ending a stream at its token's exp: the
// library must fetch a new token before each expiry and reopen with the cursor, so that no
// event is lost and no request is refused.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	n := startBinaryNode(t)
	b := browsertest.Start(t)
	tb := openTab(t, b, n.URL+"/t", "tab")
	tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
	tb.subscribe(t, "s", "feed:1")
	waitConnections(t, n, 1)
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		n.publish(t, false, "feed:1")
		time.Sleep(200 * time.Millisecond)
	}
	waitDelivered(t, n, []*tab{tb})
	var statuses []string
	tb.eval(t, "T.statuses", &statuses)
	mints, streams := n.mints.Load(), n.streams.Load()
	t.Logf("20 s stream, %d events delivered once in order; tokens minted %d, stream requests %d, refused %d, statuses %v",
		len(n.want("feed:1")["feed:1"]), mints, streams, n.denied.Load(), statuses)
	if mints < 4 {
		t.Errorf("tokens minted: %d, want at least 4 (the first and three renewals)", mints)
	}
	if d := n.denied.Load(); d != 0 {
		t.Errorf("%d stream requests refused: a token expired before it was renewed", d)
	}
	if slices.Contains(statuses, "reconnecting") {
		t.Errorf("statuses %v: the stream dropped instead of being renewed", statuses)
	}
}

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
	waitFor(t, "the task's onEnd", 10*time.Second, func() (bool, error) {
		return slices.Equal(ends(task).Ends, []string{"task"}), nil
	})
	if st := ends(feed); len(st.Ends) != 0 || st.Status != "live" {
		t.Fatalf("feed tab after the task ended: ends %v, status %q; want none, live", st.Ends, st.Status)
	}
	n.publish(t, false, "raffle:1")
	waitDelivered(t, n, tabs)
	waitConnections(t, n, 1)
	t.Logf("shared stream: the task's final event ended its subscription (after %d probes); the feed goes on", n.probes.Load())

	n.publish(t, true, "raffle:1")
	waitDelivered(t, n, tabs)
	waitFor(t, "the feed's onEnd and status ended", 10*time.Second, func() (bool, error) {
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

// TestTokenRefused: a 401 makes the library call the token function once more; a good token
// then opens the stream, a second refusal is reported (onError, status "ended") and not
// retried.
func TestTokenRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		bad     int32
		refused int32
		wantErr bool
	}{
		{"renewed token accepted", 1, 1, false},
		{"refused twice", 100, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "a-test-signing-key-of-32-bytes!!")
			n.badKeys.Store(tc.bad)
			b := browsertest.Start(t)
			tb := openTab(t, b, n.URL+"/t", "tab")
			tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
			tb.subscribe(t, "s", "feed:1")
			var st struct {
				Status string   `json:"status"`
				Errors []string `json:"errors"`
				Tokens int      `json:"tokens"`
			}
			waitFor(t, "live or ended", 10*time.Second, func() (bool, error) {
				tb.eval(t, `({status: T.status, errors: T.errors, tokens: T.tokens})`, &st)
				return st.Status == "live" || st.Status == "ended", nil
			})
			if tc.wantErr {
				if st.Status != "ended" || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "401") {
					t.Errorf("status %q, errors %v; want ended and one 401 error", st.Status, st.Errors)
				}
			} else {
				n.publish(t, false, "feed:1", "feed:1")
				waitDelivered(t, n, []*tab{tb})
				if st.Status != "live" || len(st.Errors) != 0 {
					t.Errorf("status %q, errors %v; want live, none", st.Status, st.Errors)
				}
			}
			if st.Tokens != 2 || n.denied.Load() != tc.refused || n.streams.Load() != 2 {
				t.Errorf("token calls %d, requests %d, refused %d; want 2, 2, %d", st.Tokens, n.streams.Load(), n.denied.Load(), tc.refused)
			}
			t.Logf("%s: token function called %d times, %d of %d requests refused, status %s, errors %v",
				tc.name, st.Tokens, n.denied.Load(), n.streams.Load(), st.Status, st.Errors)
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
			n.lis.closeAll()
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

// TestForbiddenTopicDoesNotStopOthers: one tab subscribes to a topic its token may not read,
// which makes the server refuse the shared stream. The library asks about each topic alone,
// reports the refused one to its subscription, and reopens for the others. A topic name the
// server could never accept is refused at subscribe, before it reaches the stream.
func TestForbiddenTopicDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	n := startNode(t, "a-test-signing-key-of-32-bytes!!")
	b := browsertest.Start(t)
	ok := openTab(t, b, n.URL+"/t", "ok-tab")
	bad := openTab(t, b, n.URL+"/t", "bad-tab")
	for _, tb := range []*tab{ok, bad} {
		tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
	}
	var thrown string
	bad.eval(t, `(() => { try { T.h.subscribe(['has space']); return 'no error' } catch (e) { return e.name } })()`, &thrown)
	if thrown != "TypeError" {
		t.Errorf("subscribe to a malformed topic: %s, want a TypeError", thrown)
	}
	ok.subscribe(t, "s", "feed:1")
	bad.subscribe(t, "s", "secret:1") // the token allows feed:* only
	waitFor(t, "the refused topic reported", 10*time.Second, func() (bool, error) {
		var errs []string
		bad.eval(t, "T.errors", &errs)
		return len(errs) == 1 && strings.Contains(errs[0], "403"), nil
	})
	waitConnections(t, n, 1)
	n.publish(t, false, "feed:1", "feed:1", "feed:1")
	waitDelivered(t, n, []*tab{ok})
	var errs, got []string
	ok.eval(t, "T.errors", &errs)
	bad.eval(t, "T.got.s", &got)
	if len(errs) != 0 || len(got) != 0 {
		t.Errorf("the other tab got errors %v; the refused subscription got events %v", errs, got)
	}
	t.Logf("forbidden topic: its subscription got onError (403), the other tab's stream went on (%d requests, %d refused)",
		n.streams.Load(), n.denied.Load())
}
