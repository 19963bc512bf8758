package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/presence"
	"github.com/heraldpush/herald/webhook"
)

// Presence, the publish answer's "online" flag and the offline fallback (docs/presence.md).
//
// When the engine offers a presence store (herald.PresenceEngine: memory, Redis, NATS), the
// server runs a presence.Tracker as the hub's PresenceTracker and serves GET /v1/presence
// and GET /v1/online. A publish answers, per event, whether a subscriber anywhere in the
// cluster got it: from the engine when it is a herald.OnlinePublisher, else from the
// tracker. An event nobody got, in a namespace with an offline_webhook, is handed to the
// webhook sender by this node, the one that accepted the publish: no other node sees the
// publish answer, so no other node sends that fallback.

// PresenceConfig holds the cluster presence timings (inlined in Config).
type PresenceConfig struct {
	// PresenceHeartbeat is how often a node rewrites its presence; 0 means
	// presence.DefaultHeartbeat.
	PresenceHeartbeat time.Duration `yaml:"presence_heartbeat"`
	// PresenceTTL is how long a node's presence lives without a rewrite: a node that dies
	// leaves presence within this bound. 0 means presence.DefaultTTL.
	PresenceTTL time.Duration `yaml:"presence_ttl"`
}

// NamespacePresence holds a namespace's presence settings (inlined in Namespace).
type NamespacePresence struct {
	// OfflineWebhook receives the events published to the namespace's topics while no one
	// is subscribed to them anywhere in the cluster.
	OfflineWebhook *webhook.Target `yaml:"offline_webhook"`
	// PresenceEvents makes subscribers receive "join" and "leave" events when a user's
	// first connection to a topic goes live and their last one ends.
	PresenceEvents bool `yaml:"presence_events"`
	// Personal marks a namespace of per-user topics "<namespace>:<user>"; the offline
	// webhook then names the user. (The same key as auth's namespace policy.)
	Personal bool `yaml:"personal"`
}

// presenceState is the server's presence machinery; nil fields are absent features.
type presenceState struct {
	tracker  *presence.Tracker
	webhooks *webhook.Sender
	// user names a stream's user when no authenticator does (see streamUser).
	user func(*http.Request) string
}

// setupPresence validates the presence settings, builds the tracker and the webhook
// sender the configuration and engine call for, and mounts the presence endpoints.
func (s *Server) setupPresence(opts Options) error {
	s.pres = &presenceState{user: opts.PresenceUser}
	hooks := false
	for _, ns := range s.cfg.Namespaces {
		if ns.OfflineWebhook != nil {
			hooks = true
		}
	}
	if hooks {
		wo := webhook.Options{Logger: s.log, Registerer: s.registerer()}
		s.pres.webhooks = webhook.New(wo)
	}
	if pe, ok := s.engine.(herald.PresenceEngine); ok {
		t, err := presence.New(presence.Options{
			Store:     pe.Presence(),
			Heartbeat: s.cfg.PresenceHeartbeat,
			TTL:       s.cfg.PresenceTTL,
			Events: func(t herald.Topic) bool {
				return s.cfg.Namespaces[t.Namespace()].PresenceEvents
			},
			Publish: func(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
				evs, _, err := s.publish(ctx, msgs, origin{kind: originPresence})
				return evs, err
			},
			Logger:     s.log,
			Registerer: s.registerer(),
		})
		if err != nil {
			return fmt.Errorf("presence: %w", err)
		}
		s.pres.tracker = t
	}
	s.mux.HandleFunc("/v1/presence", s.handlePresence)
	s.mux.HandleFunc("/v1/online", s.handleOnline)
	return nil
}

// Presence returns the node's presence tracker, or nil when the engine has no presence
// store.
func (s *Server) Presence() *presence.Tracker { return s.pres.tracker }

// presenceTracker is the hub's PresenceTracker: nil (an untyped nil) without a store.
func (s *Server) presenceTracker() hub.PresenceTracker {
	if s.pres.tracker == nil {
		return nil
	}
	return s.pres.tracker
}

func (s *Server) startPresence() {
	if s.pres.tracker != nil {
		s.pres.tracker.Start()
	}
}

// closePresence says goodbye to the cluster and lets queued webhooks go out (a bounded
// while). Call it after the hub closed, so every stream has left.
func (s *Server) closePresence() {
	if s.pres.tracker != nil {
		s.pres.tracker.Close()
	}
	if s.pres.webhooks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.pres.webhooks.Close(ctx)
		cancel()
	}
}

// streamUser names the user of a stream for presence when nothing else did.
//
// TODO(auth): once the authenticator is wired into handleEvents, hub.Request.User is the
// token's sub and this only serves Options.PresenceUser (tests, trusted front proxies).
func (s *Server) streamUser(r *http.Request) string {
	if s.pres.user == nil {
		return ""
	}
	return s.pres.user(r)
}

// authorizePresence decides whether r may read presence.
//
// Presence needs an API key or the admin token (development mode: a loopback client); see
// admitPresence in auth.go.
func (s *Server) authorizePresence(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return false
	}
	if !s.admitPresence(w, r) { // security hook (auth.go)
		return false
	}
	if s.pres.tracker == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "the engine keeps no presence")
		return false
	}
	return true
}

type topicPresenceAnswer struct {
	Topic       string   `json:"topic"`
	Connections int      `json:"connections"`
	Users       []string `json:"users"`
}

type onlineAnswer struct {
	User        string `json:"user"`
	Online      bool   `json:"online"`
	Connections int    `json:"connections"`
}

// handlePresence serves GET /v1/presence?topic=T.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request) {
	if !s.authorizePresence(w, r) {
		return
	}
	t, err := herald.ParseTopic(r.URL.Query().Get("topic"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_topic", err.Error())
		return
	}
	tp, err := s.pres.tracker.Topic(r.Context(), t)
	if err != nil {
		s.presenceError(w, err)
		return
	}
	users := make([]string, 0, len(tp.Users))
	for u := range tp.Users {
		users = append(users, u)
	}
	slices.Sort(users)
	writeJSON(w, http.StatusOK, topicPresenceAnswer{Topic: string(t), Connections: tp.Connections, Users: users})
}

// handleOnline serves GET /v1/online?user=U.
func (s *Server) handleOnline(w http.ResponseWriter, r *http.Request) {
	if !s.authorizePresence(w, r) {
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" || len(user) > 512 {
		writeError(w, http.StatusBadRequest, "invalid_user", "user must be 1 to 512 bytes")
		return
	}
	n, err := s.pres.tracker.User(r.Context(), user)
	if err != nil {
		s.presenceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, onlineAnswer{User: user, Online: n > 0, Connections: n})
}

func (s *Server) presenceError(w http.ResponseWriter, err error) {
	status, code := errorStatus(err)
	if status == http.StatusInternalServerError || errors.Is(err, context.DeadlineExceeded) {
		status, code = http.StatusServiceUnavailable, "engine_unavailable"
	}
	s.log.Warn("presence read failed", "err", err)
	writeError(w, status, code, err.Error())
}

// registerer is the metrics registry for presence and webhook collectors; nil without
// Options.Metrics.
func (s *Server) registerer() prometheus.Registerer {
	if s.met == nil {
		return nil
	}
	return s.met.Registerer()
}
