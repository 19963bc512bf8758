package mercure_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/clustertest"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/server"
)

type subscriptionsDoc struct {
	Context       string `json:"@context"`
	ID            string `json:"id"`
	Type          string `json:"type"`
	LastEventID   string `json:"lastEventID"`
	Subscriptions []struct {
		ID, Type, Subscriber, Topic string
		Active                      bool
		Payload                     map[string]any
	} `json:"subscriptions"`
}

// getJSON fetches a subscriptions API resource with the reader's token.
func getJSON(t *testing.T, u, tok, etag string, v any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, resp.Header.Get("ETag")
}

// TestSubscriptionsAPI: with subscriptions on, a subscriber's connection and departure are
// private subscription events and the API lists the cluster's active subscriptions, on
// every node of a cluster (Redis), with ETag / If-None-Match.
func TestSubscriptionsAPI(t *testing.T) {
	mc := mercureConfig()
	mc.Subscriptions = true
	cfg := server.Config{Mercure: mc, Drain: 100 * time.Millisecond}
	nodes := clustertest.StartNodes(t, redisBroker(t), 2, cfg)
	reader := token(t, subKey, map[string]any{"subscribe": []string{"/.well-known/mercure/subscriptions{/topic}{/subscriber}"}})

	// A watcher of subscription events on node 1.
	events := subscribe(t, nodes[1].URL, form("topic", "/.well-known/mercure/subscriptions{/topic}{/subscriber}"),
		http.Header{"Authorization": {"Bearer " + reader}})
	ev := events.next(t) // its own subscription
	if !strings.Contains(string(ev.Data), `"active":true`) {
		t.Fatalf("own subscription event %s", ev.Data)
	}

	// A subscriber with a payload on node 0.
	subTok := token(t, subKey, map[string]any{"subscribe": []string{"*"}, "payload": map[string]any{"user": "alice"}})
	s := subscribe(t, nodes[0].URL, form("topic", "https://example.com/books/{id}"), http.Header{"Authorization": {"Bearer " + subTok}})
	ev = events.next(t)
	var evSub map[string]any
	if err := json.Unmarshal(ev.Data, &evSub); err != nil {
		t.Fatal(err)
	}
	if evSub["active"] != true || evSub["topic"] != "https://example.com/books/{id}" || evSub["type"] != "Subscription" ||
		evSub["@context"] != "https://mercure.rocks/" || evSub["payload"].(map[string]any)["user"] != "alice" {
		t.Fatalf("subscription event %s", ev.Data)
	}
	subID := evSub["id"].(string)
	if !strings.HasPrefix(subID, mercure.SubscriptionsPath+"/"+url.QueryEscape("https://example.com/books/{id}")+"/") {
		t.Fatalf("subscription id %q", subID)
	}

	// Listed on both nodes.
	for i, n := range nodes {
		var doc subscriptionsDoc
		var etag string
		for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) { // the node may lag a moment
			doc = subscriptionsDoc{}
			var status int
			status, etag = getJSON(t, n.URL+mercure.SubscriptionsPath, reader, "", &doc)
			if status != 200 || doc.Type != "Subscriptions" || doc.Context != "https://mercure.rocks/" || doc.LastEventID == "" {
				t.Fatalf("node %d: %d %+v", i, status, doc)
			}
			found := false
			for _, sub := range doc.Subscriptions {
				found = found || (sub.ID == subID && sub.Active && sub.Payload["user"] == "alice")
			}
			if found && len(doc.Subscriptions) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d lists %+v, want the watcher and %s", i, doc.Subscriptions, subID)
			}
		}
		if status, _ := getJSON(t, n.URL+mercure.SubscriptionsPath, reader, etag, nil); status != http.StatusNotModified {
			t.Fatalf("node %d: If-None-Match %s answered %d, want 304", i, etag, status)
		}
	}
	// By topic, and one subscription.
	var doc subscriptionsDoc
	if status, _ := getJSON(t, nodes[1].URL+mercure.SubscriptionsPath+"/"+url.QueryEscape("https://example.com/books/{id}"), reader, "", &doc); status != 200 || len(doc.Subscriptions) != 1 {
		t.Fatalf("by topic: %d %+v", status, doc)
	}
	var one map[string]any
	if status, _ := getJSON(t, nodes[1].URL+subID, reader, "", &one); status != 200 || one["id"] != subID || one["lastEventID"] == "" {
		t.Fatalf("one subscription: %d %v", status, one)
	}
	// Without a token that allows it: 401.
	if status, _ := getJSON(t, nodes[1].URL+mercure.SubscriptionsPath, subTok, "", nil); status != 200 {
		// subTok subscribes to "*", which allows everything.
		t.Fatalf("a '*' token: %d", status)
	}
	if status, _ := getJSON(t, nodes[1].URL+mercure.SubscriptionsPath, token(t, subKey, map[string]any{"subscribe": []string{"https://example.com/{x}"}}), "", nil); status != 401 {
		t.Fatalf("a token without the subscriptions topic: %d, want 401", status)
	}

	// Leaving: an inactive event, and the list forgets it.
	s.cancel()
	ev = events.next(t)
	if !strings.Contains(string(ev.Data), `"active":false`) || !strings.Contains(string(ev.Data), subID[len(mercure.SubscriptionsPath):]) {
		t.Fatalf("departure event %s", ev.Data)
	}
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		var after subscriptionsDoc
		getJSON(t, nodes[0].URL+mercure.SubscriptionsPath, reader, "", &after)
		if len(after.Subscriptions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after leaving: %+v", after.Subscriptions)
		}
	}
}

// mortalEngine wraps an engine so a test can make its node die without saying goodbye: once
// dead, its publishes and presence writes fail.
type mortalEngine struct {
	herald.Engine
	dead atomic.Bool
}

func (e *mortalEngine) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if e.dead.Load() {
		return nil, herald.ErrEngineUnavailable
	}
	return e.Engine.Publish(ctx, msgs)
}

func (e *mortalEngine) Presence() herald.PresenceStore {
	return mortalPresence{e.Engine.(herald.PresenceEngine).Presence(), e}
}

type mortalPresence struct {
	herald.PresenceStore
	e *mortalEngine
}

func (p mortalPresence) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	if p.e.dead.Load() {
		return herald.ErrEngineUnavailable
	}
	return p.PresenceStore.UpdatePresence(ctx, node, u, ttl)
}

// TestSubscriptionsOfADeadNode: subscriptions announced by a node that dies without saying
// goodbye leave the list once its liveness expires (presence TTL); the others stay.
func TestSubscriptionsOfADeadNode(t *testing.T) {
	mc := mercureConfig()
	mc.Subscriptions = true
	cfg := server.Config{Mercure: mc, Drain: 100 * time.Millisecond,
		PresenceConfig: server.PresenceConfig{PresenceHeartbeat: 100 * time.Millisecond, PresenceTTL: 500 * time.Millisecond}}
	redis := redisBroker(t)
	var mortal *mortalEngine
	nodes := clustertest.StartNodes(t, clustertest.Broker{NewEngine: func(t *testing.T, cfg server.Config) herald.Engine {
		e := redis.NewEngine(t, cfg)
		if mortal == nil {
			mortal = &mortalEngine{Engine: e}
			return mortal
		}
		return e
	}}, 2, cfg)
	reader := token(t, subKey, map[string]any{"subscribe": []string{"/.well-known/mercure/subscriptions{/topic}{/subscriber}"}})
	doomed := subscribe(t, nodes[0].URL, form("topic", "https://example.com/doomed"), nil)
	subscribe(t, nodes[1].URL, form("topic", "https://example.com/alive"), nil)
	topics := func() []string {
		var doc subscriptionsDoc
		if status, _ := getJSON(t, nodes[1].URL+mercure.SubscriptionsPath, reader, "", &doc); status != 200 {
			t.Fatalf("list: %d", status)
		}
		var ts []string
		for _, s := range doc.Subscriptions {
			ts = append(ts, s.Topic)
		}
		slices.Sort(ts)
		return ts
	}
	waitTopics := func(want ...string) {
		t.Helper()
		for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
			got := topics()
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("listed %q, want %q", got, want)
			}
		}
	}
	waitTopics("https://example.com/alive", "https://example.com/doomed")
	mortal.dead.Store(true) // node 0 can no longer publish its goodbye nor renew its liveness
	doomed.cancel()
	waitTopics("https://example.com/alive")
}
