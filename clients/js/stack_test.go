package js_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/web"
)

// The browser tests (shared_test.go, token_test.go, end_test.go) load herald.js, as Herald
// serves it at /herald.js, into Debian's headless Chromium (tab_test.go drives the tabs): the
// tabs of one origin talk to a real Herald node on a loopback port, server.New over the memory
// engine with the web pages mounted, or the `herald serve` binary behind a reverse proxy. The
// test page (testdata/page.html) records what each subscription receives.

// node is a Herald node behind one httptest server, with the test page at /t and a token
// endpoint at /token.
type node struct {
	URL  string
	lis  *testserver.TrackingListener
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
	n.mint = mintFunc(n, jwtKey)
	n.front(t, srv.Handler())
	t.Cleanup(func() {
		_ = pages.Close()
		srv.Close()
		n.lis.CloseAll()
		_ = eng.Close()
	})
	return n
}

// mintFunc mints tokens for subject u1 that may read feed:* and live tokenLife; the first
// n.badKeys of them are signed with a key the node does not know.
func mintFunc(n *node, jwtKey string) func() (string, error) {
	return func() (string, error) {
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
}

// startBinaryNode runs the real binary: `herald serve` with a JWT key from HERALD_JWT_KEY,
// no leeway (a stream ends exactly at its token's exp) and a publisher API key, behind a
// reverse proxy that adds the test page.
func startBinaryNode(t *testing.T) *node {
	t.Helper()
	const apiKey = "publisher-key-0123456789abcdef"
	const jwtKey = "a-test-signing-key-of-32-bytes!!"
	env := []string{"HERALD_JWT_KEY=" + jwtKey}
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
	n.mint = mintFunc(n, jwtKey) // in-process: a process per token is slow on a loaded machine
	target, _ := url.Parse(h.URL)
	n.front(t, httputil.NewSingleHostReverseProxy(target)) // flushes text/event-stream at once
	t.Cleanup(n.lis.CloseAll)
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
	n.lis = testserver.Track(ts.Listener)
	ts.Listener = n.lis
	ts.Start()
	n.URL = ts.URL
	t.Cleanup(ts.Close)
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
