package mercure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald"
)

// The subscriptions API (Config.Subscriptions): GET /.well-known/mercure/subscriptions,
// …/{topic} and …/{topic}/{subscriber} as JSON-LD, and the subscription events, private
// updates on /.well-known/mercure/subscriptions/{topic}/{subscriber} with "active" true when
// a subscriber connects and false when it leaves.
//
// The events go through the log like every update, so every node of a cluster sees them,
// in order, and each node keeps the cluster's active subscriptions from them (a node that
// starts later rebuilds them from the log's retained history). Each event names the node
// that made it, and every node keeps its liveness in the engine's presence store with a
// TTL, so the subscriptions of a node that died without saying goodbye leave the list.

// SubscriptionsPath is the subscriptions API's collection.
const SubscriptionsPath = Path + "/subscriptions"

// jsonldContext is the JSON-LD context of the subscriptions API.
const jsonldContext = "https://mercure.rocks/"

// subscription is one subscriber's subscription to one topic selector.
type subscription struct {
	Context    string `json:"@context,omitempty"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	Subscriber string `json:"subscriber"`
	Topic      string `json:"topic"`
	Active     bool   `json:"active"`
	Payload    any    `json:"payload,omitempty"`
}

// subscriptionID is the resource id (and the event topic) of a subscription.
func subscriptionID(topic, subscriber string) string {
	return SubscriptionsPath + "/" + url.QueryEscape(topic) + "/" + url.QueryEscape(subscriber)
}

// announce publishes s's subscription events (active or not) to the log.
func (h *Hub) announce(ctx context.Context, s *subscriber, active bool) {
	if !h.cfg.Subscriptions {
		return
	}
	msgs := make([]herald.Message, 0, len(s.topics))
	for _, t := range s.topics {
		sub := subscription{Context: jsonldContext, ID: subscriptionID(t, s.id), Type: "Subscription",
			Subscriber: s.id, Topic: t, Active: active}
		if s.grant != nil {
			sub.Payload = s.grant.payload
		}
		data, err := json.Marshal(sub)
		if err != nil {
			h.log.Warn("mercure: subscription payload cannot be encoded", "err", err)
			return
		}
		u := &update{Topics: []string{sub.ID}, Private: true, ID: "urn:uuid:" + newUUIDv7(time.Now()),
			Data: string(data), System: true, Node: h.node}
		msgs = append(msgs, herald.Message{Topic: LogTopic, Data: u.encode()})
	}
	if _, err := h.engine.Publish(ctx, msgs); err != nil {
		h.log.Warn("mercure: subscription event not published", "err", err, "active", active)
	}
}

// trackLocked keeps the cluster's active subscriptions from the log's subscription events.
func (h *Hub) trackLocked(u *update) {
	if !u.System || len(u.Topics) != 1 || !strings.HasPrefix(u.Topics[0], SubscriptionsPath+"/") {
		return
	}
	var sub subscription
	if err := json.Unmarshal([]byte(u.Data), &sub); err != nil {
		return
	}
	if !sub.Active {
		delete(h.active, sub.ID)
		if h.liveTracked != nil {
			h.liveTracked[sub.ID] = nil
		}
		return
	}
	sub.Context = ""
	tr := &tracked{sub: sub, node: u.Node}
	h.active[sub.ID] = tr
	if h.liveTracked != nil {
		h.liveTracked[sub.ID] = tr
	}
}

// tracked is an active subscription and the node that announced it.
type tracked struct {
	sub  subscription
	node string
}

// nodesTopic is the presence topic in which every node with subscriptions on keeps a share
// naming itself, rewritten every NodeHeartbeat and expiring after NodeTTL.
const nodesTopic herald.Topic = "herald:mercure-nodes"

// heartbeatNode keeps this node's liveness in the presence store until the hub closes,
// then removes it.
func (h *Hub) heartbeatNode() {
	write := func(ctx context.Context, alive bool) {
		share := map[string]int{}
		if alive {
			share[h.node] = 1
		}
		u := herald.PresenceUpdate{Topics: map[herald.Topic]map[string]int{nodesTopic: share}}
		if err := h.pres.UpdatePresence(ctx, h.node, u, h.opts.NodeTTL); err != nil && ctx.Err() == nil {
			h.log.Warn("mercure: node liveness not written", "err", err)
		}
	}
	tick := time.NewTicker(h.opts.NodeHeartbeat)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(h.ctx, h.opts.NodeHeartbeat)
		write(ctx, true)
		cancel()
		select {
		case <-h.ctx.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			write(ctx, false)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// liveNodes returns the nodes whose liveness is current, or nil when unknown (no presence
// store, or it cannot be read: then nothing is filtered).
func (h *Hub) liveNodes(ctx context.Context) map[string]bool {
	if h.pres == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	p, err := h.pres.TopicPresence(ctx, nodesTopic)
	if err != nil {
		h.log.Warn("mercure: node liveness not read", "err", err)
		return nil
	}
	live := make(map[string]bool, len(p.Users))
	for n := range p.Users {
		live[n] = true
	}
	live[h.node] = true
	return live
}

// serveSubscriptions answers the subscriptions API.
func (h *Hub) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Subscriptions {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	// The token must allow subscribing to the requested resource.
	g, err := h.sub.authorize(r.Context(), r, false)
	if err != nil || g == nil || !matchAny(g.subscribe, []string{r.URL.EscapedPath()}) {
		h.authError(w, r, err, "subscriptions reader")
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), SubscriptionsPath), "/")
	var topic, subscriber string
	if rest != "" {
		parts := strings.Split(rest, "/")
		if len(parts) > 2 {
			http.NotFound(w, r)
			return
		}
		var err error
		if topic, err = url.QueryUnescape(parts[0]); err != nil {
			http.Error(w, "bad topic in path", http.StatusBadRequest)
			return
		}
		if len(parts) == 2 {
			if subscriber, err = url.QueryUnescape(parts[1]); err != nil {
				http.Error(w, "bad subscriber in path", http.StatusBadRequest)
				return
			}
		}
	}
	if !h.waitReady(r.Context()) {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	live := h.liveNodes(r.Context())
	h.mu.Lock()
	lastID := h.headID
	if lastID == "" {
		lastID = earliest
	}
	var subs []subscription
	for _, tr := range h.active {
		s := &tr.sub
		if live != nil && !live[tr.node] {
			continue // its node died without saying goodbye
		}
		if (topic == "" || s.Topic == topic) && (subscriber == "" || s.Subscriber == subscriber) {
			subs = append(subs, *s)
		}
	}
	h.mu.Unlock()
	slices.SortFunc(subs, func(a, b subscription) int { return strings.Compare(a.ID, b.ID) })

	w.Header().Set("ETag", `"`+lastID+`"`)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == `"`+lastID+`"` || inm == lastID) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var body any
	if subscriber != "" {
		if len(subs) == 0 {
			http.NotFound(w, r)
			return
		}
		one := subs[0]
		body = struct {
			Context string `json:"@context"`
			subscription
			LastEventID string `json:"lastEventID"`
		}{jsonldContext, one, lastID}
	} else {
		id := SubscriptionsPath
		if topic != "" {
			id += "/" + url.QueryEscape(topic)
		}
		if subs == nil {
			subs = []subscription{}
		}
		body = struct {
			Context       string         `json:"@context"`
			ID            string         `json:"id"`
			Type          string         `json:"type"`
			LastEventID   string         `json:"lastEventID"`
			Subscriptions []subscription `json:"subscriptions"`
		}{jsonldContext, id, "Subscriptions", lastID, subs}
	}
	w.Header().Set("Content-Type", "application/ld+json")
	w.Header().Set("Cache-Control", "private, no-cache")
	json.NewEncoder(w).Encode(body)
}
