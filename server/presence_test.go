package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/webhook"
)

const (
	testHeartbeat = 200 * time.Millisecond
	testTTL       = time.Second
	hookSecret    = "s3cret"
	userHeader    = "X-Test-User"
)

// pnode is a Herald node with presence, on a loopback HTTP server.
type pnode struct {
	srv *server.Server
	url string
}

// engineMaker builds one node's engine over a shared backend.
type engineMaker func(t *testing.T) herald.Engine

func memoryEngines(t *testing.T) engineMaker {
	return func(t *testing.T) herald.Engine { return memory.New(memory.Options{}) }
}

func redisEngines(t *testing.T) engineMaker {
	rs := testserver.Redis(t)
	return func(t *testing.T) herald.Engine {
		e, err := redisengine.New(context.Background(), redisengine.Options{URL: rs.URL(), HealthCheckInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

func natsEngines(t *testing.T) engineMaker {
	ns := testserver.NATS(t)
	return func(t *testing.T) herald.Engine {
		e, err := natsengine.New(context.Background(), natsengine.Options{URL: ns.URL()})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
}

// presenceCfg has fast presence timings, a personal "user" namespace with an offline
// webhook to hookURL, and a "raffle" namespace with join/leave events.
func presenceCfg(hookURL string) server.Config {
	cfg := server.Config{PresenceConfig: server.PresenceConfig{PresenceHeartbeat: testHeartbeat, PresenceTTL: testTTL}}
	user := server.Namespace{}
	user.Personal = true
	if hookURL != "" {
		user.OfflineWebhook = &webhook.Target{URL: hookURL, Secret: hookSecret, Timeout: time.Second, Retries: 3}
	}
	raffle := server.Namespace{}
	raffle.PresenceEvents = true
	cfg.Namespaces = map[string]server.Namespace{"user": user, "raffle": raffle}
	return cfg
}

func startPresenceNodes(t *testing.T, cfg server.Config, n int, newEngine engineMaker) []*pnode {
	t.Helper()
	broker := clustertest.Broker{NewEngine: func(t *testing.T, _ server.Config) herald.Engine { return newEngine(t) }}
	opts := server.Options{PresenceUser: func(r *http.Request) string { return r.Header.Get(userHeader) }}
	var nodes []*pnode
	for _, nd := range clustertest.StartNodesWith(t, broker, n, testConfig(cfg), opts) {
		nodes = append(nodes, &pnode{srv: nd.Srv, url: nd.URL})
	}
	return nodes
}

func (n *pnode) subscribe(t *testing.T, user string, topics ...string) *stream {
	t.Helper()
	q := url.Values{"topic": topics}
	h := http.Header{}
	if user != "" {
		h.Set(userHeader, user)
	}
	return openWith(t, http.DefaultClient, n.url+"/v1/events?"+q.Encode(), h)
}

func (n *pnode) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(n.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

type onlineBody struct {
	User        string `json:"user"`
	Online      bool   `json:"online"`
	Connections int    `json:"connections"`
}

type presenceBody struct {
	Topic       string   `json:"topic"`
	Connections int      `json:"connections"`
	Users       []string `json:"users"`
}

func (n *pnode) online(t *testing.T, user string) onlineBody {
	var b onlineBody
	n.getJSON(t, "/v1/online?user="+url.QueryEscape(user), &b)
	return b
}

func (n *pnode) presence(t *testing.T, topic string) presenceBody {
	var b presenceBody
	n.getJSON(t, "/v1/presence?topic="+url.QueryEscape(topic), &b)
	return b
}

// publish posts body and returns the decoded answer.
func (n *pnode) publish(t *testing.T, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(n.url+"/v1/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish %s: %d %v", body, resp.StatusCode, m)
	}
	return m
}

// eventually polls cond until it holds or d passes, and returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// hookServer records the webhook POSTs it gets; the first failFirst answer 500.
type hookServer struct {
	url       string
	failFirst atomic.Int32
	mu        sync.Mutex
	attempts  int
	delivered []webhook.Payload
	badSig    int
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		if !webhook.Verify(hookSecret, body, r.Header.Get(webhook.SignatureHeader)) {
			h.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.failFirst.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.delivered = append(h.delivered, p)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

func (h *hookServer) snapshot() (attempts int, delivered []webhook.Payload, badSig int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts, append([]webhook.Payload(nil), h.delivered...), h.badSig
}

// TestPresenceOfflineFallbackThreeRedisNodes: a user online on node B gets the event over
// SSE and no webhook fires; offline, exactly one signed POST goes out of three nodes.
func TestPresenceOfflineFallbackThreeRedisNodes(t *testing.T) {
	hook := newHookServer(t)
	nodes := startPresenceNodes(t, presenceCfg(hook.url), 3, redisEngines(t))
	a, b, c := nodes[0], nodes[1], nodes[2]

	s := b.subscribe(t, "alice", "user:alice")
	eventually(t, 2*time.Second, "alice online seen from node C", func() bool { return c.online(t, "alice").Online })
	if p := a.presence(t, "user:alice"); p.Connections != 1 || len(p.Users) != 1 || p.Users[0] != "alice" {
		t.Fatalf("presence from node A: %+v", p)
	}
	ans := a.publish(t, `{"topic":"user:alice","event":"order","data":{"filled":10}}`)
	if ans["online"] != true {
		t.Fatalf("publish answer %v, want online true", ans)
	}
	s.Expect(t, `{"filled":10}`)
	time.Sleep(300 * time.Millisecond)
	if n, _, _ := hook.snapshot(); n != 0 {
		t.Fatalf("%d webhook POSTs for an online user", n)
	}

	s.Close()
	eventually(t, 2*time.Second, "alice offline seen from node A", func() bool { return !a.online(t, "alice").Online })
	ans = a.publish(t, `{"topic":"user:alice","event":"order","data":{"filled":20}}`)
	if ans["online"] != false {
		t.Fatalf("publish answer %v, want online false", ans)
	}
	eventually(t, 3*time.Second, "one webhook", func() bool { _, d, _ := hook.snapshot(); return len(d) == 1 })
	time.Sleep(500 * time.Millisecond) // room for a second, wrong, POST
	attempts, got, bad := hook.snapshot()
	if attempts != 1 || len(got) != 1 || bad != 0 {
		t.Fatalf("attempts %d, delivered %d, bad signatures %d; want 1, 1, 0", attempts, len(got), bad)
	}
	p := got[0]
	if p.Topic != "user:alice" || p.User != "alice" || p.ID != ans["id"] || p.Event != "order" ||
		string(p.Data) != `{"filled":20}` || time.Since(p.PublishedAt) > time.Minute {
		t.Fatalf("payload %+v (data %s), want topic user:alice, user alice, id %v", p, p.Data, ans["id"])
	}
}

// TestWebhookRetriedThenDeliveredOnce: a webhook that fails twice then succeeds is retried
// and delivered once.
func TestWebhookRetriedThenDeliveredOnce(t *testing.T) {
	hook := newHookServer(t)
	hook.failFirst.Store(2)
	n := startPresenceNodes(t, presenceCfg(hook.url), 1, memoryEngines(t))[0]
	ans := n.publish(t, `{"topic":"user:bob","data":"plain text"}`)
	if ans["online"] != false {
		t.Fatalf("answer %v, want online false", ans)
	}
	eventually(t, 5*time.Second, "delivery after two failures", func() bool { _, d, _ := hook.snapshot(); return len(d) == 1 })
	time.Sleep(300 * time.Millisecond)
	attempts, got, _ := hook.snapshot()
	if attempts != 3 || len(got) != 1 {
		t.Fatalf("attempts %d, delivered %d; want 3 and 1", attempts, len(got))
	}
	if string(got[0].Data) != `"plain text"` || got[0].User != "bob" {
		t.Fatalf("payload %+v data %s", got[0], got[0].Data)
	}
}

// TestWebhookClientErrorNotRetried: a 4xx is final.
func TestWebhookClientErrorNotRetried(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusGone)
	}))
	defer ts.Close()
	s := webhook.New(webhook.Options{BaseBackoff: 10 * time.Millisecond})
	s.Enqueue(webhook.Target{URL: ts.URL, Secret: "x", Retries: 5}, webhook.Payload{Topic: "t", ID: "e-1"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Close(ctx)
	if hits.Load() != 1 {
		t.Fatalf("%d attempts, want 1", hits.Load())
	}
}

// TestPresenceEndpoints covers /v1/presence, /v1/online and the publish answer on every
// engine.
func TestPresenceEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(*testing.T) engineMaker
		nodes int
	}{
		{"memory", memoryEngines, 1},
		{"redis", redisEngines, 2},
		{"nats", natsEngines, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startPresenceNodes(t, presenceCfg(""), tc.nodes, tc.make(t))
			first, last := nodes[0], nodes[len(nodes)-1]
			first.subscribe(t, "alice", "news:1")
			last.subscribe(t, "alice", "news:1", "news:2")
			first.subscribe(t, "", "news:1")
			eventually(t, 3*time.Second, "3 connections on news:1", func() bool { return first.presence(t, "news:1").Connections == 3 })
			p := last.presence(t, "news:1")
			if p.Topic != "news:1" || len(p.Users) != 1 || p.Users[0] != "alice" {
				t.Fatalf("presence %+v, want users [alice] (anonymous counted, not named)", p)
			}
			if o := first.online(t, "alice"); !o.Online || o.Connections != 2 || o.User != "alice" {
				t.Fatalf("online %+v, want 2 connections", o)
			}
			if o := first.online(t, "nobody"); o.Online || o.Connections != 0 {
				t.Fatalf("online %+v for a user never seen", o)
			}
			if ans := first.publish(t, `{"topic":"news:2","data":1}`); ans["online"] != true {
				t.Fatalf("answer %v, want online true (subscriber on another node)", ans)
			}
			ans := first.publish(t, `{"events":[{"topic":"news:1","data":1},{"topic":"empty:1","data":2}]}`)
			if fmt.Sprint(ans["online"]) != "[true false]" || len(ans["ids"].([]any)) != 2 {
				t.Fatalf("batch answer %v, want online [true false] and two ids", ans)
			}
		})
	}
}

// TestPresenceDeadNodeExpires: a node that stops writing without goodbye drops out of
// presence within the TTL (plus one read's slack), on every engine.
func TestPresenceDeadNodeExpires(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(*testing.T) engineMaker
	}{
		{"memory", memoryEngines},
		{"redis", redisEngines},
		{"nats", natsEngines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 2
			if tc.name == "memory" {
				n = 1
			}
			nodes := startPresenceNodes(t, presenceCfg(""), n, tc.make(t))
			alive, dying := nodes[0], nodes[n-1]
			dying.subscribe(t, "carol", "news:9")
			eventually(t, 3*time.Second, "carol online", func() bool { return alive.online(t, "carol").Online })
			dying.srv.Presence().Abandon() // the node dies: no goodbye, no more heartbeats
			took := eventually(t, testTTL+time.Second, "carol gone", func() bool {
				return !alive.online(t, "carol").Online && alive.presence(t, "news:9").Connections == 0
			})
			t.Logf("dead node dropped out after %s (TTL %s)", took, testTTL)
		})
	}
}

// TestPresenceJoinLeaveEvents: subscribers of a presence_events topic see a user's first
// join and last leave, cluster-wide.
func TestPresenceJoinLeaveEvents(t *testing.T) {
	nodes := startPresenceNodes(t, presenceCfg(""), 2, redisEngines(t))
	watcher := nodes[0].subscribe(t, "", "raffle:7")
	eventually(t, 2*time.Second, "watcher present", func() bool { return nodes[0].presence(t, "raffle:7").Connections == 1 })
	d1 := nodes[1].subscribe(t, "dave", "raffle:7")
	ev := watcher.Next(t)
	if ev.Name != "join" || string(ev.Data) != `{"user":"dave"}` || ev.ID == "" {
		t.Fatalf("got %q %q id %q, want join of dave with an id", ev.Name, ev.Data, ev.ID)
	}
	// A second connection of dave, on the other node: no event.
	d2 := nodes[0].subscribe(t, "dave", "raffle:7")
	eventually(t, 2*time.Second, "dave twice", func() bool { return nodes[1].presence(t, "raffle:7").Connections == 3 })
	d1.Close()
	eventually(t, 2*time.Second, "dave once", func() bool { return nodes[1].presence(t, "raffle:7").Connections == 2 })
	d2.Close()
	ev = watcher.Next(t)
	if ev.Name != "leave" || string(ev.Data) != `{"user":"dave"}` {
		t.Fatalf("got %q %q, want leave of dave (and no event for his second connection)", ev.Name, ev.Data)
	}
}
