package mercure

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/hub"
)

// Path is where the Mercure endpoint is served.
const Path = "/.well-known/mercure"

// LogTopic is the Herald topic that logs every Mercure update, in order. It is in Herald's
// reserved namespace: the /v1 API neither publishes to nor subscribes to it.
const LogTopic herald.Topic = "herald:mercure"

// Defaults for Options.
const (
	DefaultHeartbeat     = 15 * time.Second
	DefaultWriteTimeout  = 30 * time.Second
	DefaultMaxQueueBytes = 1 << 20
	DefaultReadyWait     = time.Second
	DefaultNodeHeartbeat = 10 * time.Second
	DefaultNodeTTL       = 30 * time.Second
	historyPage          = 500
)

// Options are the parts of a Hub that are not configuration values.
type Options struct {
	Engine herald.Engine
	// Hub is the node's Herald hub; the Mercure hub follows LogTopic through it.
	Hub    *hub.Hub
	Logger *slog.Logger
	// Heartbeat is the idle interval after which a stream gets a comment.
	Heartbeat time.Duration
	// WriteTimeout bounds one write to a subscriber.
	WriteTimeout time.Duration
	// MaxQueueBytes bounds a subscriber's unwritten bytes (slow consumers are cut off).
	MaxQueueBytes int
	// ReadyWait is how long a subscribe waits for the log to be followed before it commits
	// the stream and goes on waiting with heartbeats.
	ReadyWait time.Duration
	// NodeHeartbeat and NodeTTL: with subscriptions on, a node rewrites its liveness in the
	// engine's presence store every NodeHeartbeat; the subscriptions API lists a node's
	// subscriptions only while that is younger than NodeTTL (a node that died drops out).
	NodeHeartbeat time.Duration
	NodeTTL       time.Duration
}

// Hub serves the Mercure protocol on one node. Every update is published to LogTopic through
// the engine, so each node of a cluster sees every update, in the same order, and resumes a
// Last-Event-ID from the log's history.
type Hub struct {
	cfg    Config
	opts   Options
	engine herald.Engine
	log    *slog.Logger
	pub    verifier
	sub    verifier
	cache  *selectorCache
	node   string               // this node's id in subscription events and liveness
	pres   herald.PresenceStore // the engine's presence store, nil without one

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the rest
	ready    chan struct{}
	followed bool
	epoch    string
	head     uint64 // seq of the newest update the node has seen
	headID   string // its Mercure id ("" when unknown)
	ids      idMap
	idx      *index
	subs     map[*subscriber]struct{}
	dispatch uint64              // counts dispatched updates (index dedup mark)
	active   map[string]*tracked // the cluster's active subscriptions (subscriptions.go)
	// liveTracked records the subscription events that arrived live before the node read
	// the log's history (nil value: ended); nil once ready.
	liveTracked map[string]*tracked
	draining    bool
	stop        func()
	// catching is set while the node reads a new epoch's first updates (log.go catchUp);
	// live updates wait in pending meanwhile.
	catching bool
	pending  []pendingUpdate
}

// New builds a Mercure hub from cfg (defaults filled in by WithDefaults). Call Start.
func New(cfg Config, opts Options) (*Hub, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if opts.ReadyWait <= 0 {
		opts.ReadyWait = DefaultReadyWait
	}
	if opts.NodeHeartbeat <= 0 {
		opts.NodeHeartbeat = DefaultNodeHeartbeat
	}
	if opts.NodeTTL <= 0 {
		opts.NodeTTL = DefaultNodeTTL
	}
	opts.NodeTTL = max(opts.NodeTTL, 2*opts.NodeHeartbeat) // one lost write must not expire a node
	h := &Hub{cfg: cfg, opts: opts, engine: opts.Engine, log: opts.Logger, cache: newSelectorCache(10000),
		ready: make(chan struct{}), idx: newIndex(), subs: make(map[*subscriber]struct{}),
		ids: newIDMap(cfg.HistorySize), active: make(map[string]*tracked),
		liveTracked: make(map[string]*tracked)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.node = newUUIDv7(time.Now())
	if pe, ok := opts.Engine.(herald.PresenceEngine); ok {
		h.pres = pe.Presence()
	}
	h.pub = verifier{cookie: cfg.Cookie, origins: cfg.PublishOrigins, cache: h.cache}
	if h.pub.auth, err = newRoleAuth(cfg.PublisherJWTKey, cfg.PublisherJWTPublicKey, cfg.PublisherJWKSURL, opts.Logger); err != nil {
		return nil, fmt.Errorf("mercure publisher key: %w", err)
	}
	h.sub = verifier{cookie: cfg.Cookie, cache: h.cache}
	if cfg.subscriberAuth() {
		if h.sub.auth, err = newRoleAuth(cfg.SubscriberJWTKey, cfg.SubscriberJWTPublicKey, cfg.SubscriberJWKSURL, opts.Logger); err != nil {
			return nil, fmt.Errorf("mercure subscriber key: %w", err)
		}
	}
	return h, nil
}

func newRoleAuth(key, pemFile, jwksURL string, log *slog.Logger) (*auth.Authenticator, error) {
	if key == "" && pemFile == "" && jwksURL == "" {
		return nil, nil
	}
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	return auth.New(auth.Config{JWTKey: k, JWTPublicKeyFile: pemFile, JWKSURL: jwksURL, Logger: log})
}

// Start begins following the log topic in the background; subscribers wait (up to
// Options.ReadyWait) until the node knows where the log stands.
func (h *Hub) Start() {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.follow()
	}()
	if h.cfg.Subscriptions && h.pres != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.heartbeatNode()
		}()
	}
}

// Close ends every stream at once and stops following the log.
func (h *Hub) Close() {
	h.mu.Lock()
	h.draining = true
	subs := h.snapshotLocked()
	h.mu.Unlock()
	for _, s := range subs {
		s.close(reasonShutdown)
	}
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	stop := h.stop
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Drain ends every stream at a random moment within window (so clients reconnect spread
// out), refuses new ones, and returns when all ended or ctx is done.
func (h *Hub) Drain(ctx context.Context, window time.Duration) {
	h.mu.Lock()
	h.draining = true
	subs := h.snapshotLocked()
	h.mu.Unlock()
	var timers []*time.Timer
	for _, s := range subs {
		d := time.Duration(0)
		if window > 0 {
			d = rand.N(window)
		}
		timers = append(timers, time.AfterFunc(d, func() { s.close(reasonShutdown) }))
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for h.Subscribers() > 0 {
		select {
		case <-ctx.Done():
			for _, s := range subs {
				s.close(reasonShutdown)
			}
			return
		case <-tick.C:
		}
	}
}

// Subscribers returns the number of open Mercure streams on this node.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) snapshotLocked() []*subscriber {
	subs := make([]*subscriber, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	return subs
}

// ServeHTTP serves GET (subscribe), POST (publish) and OPTIONS (CORS preflight) on Path.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		if r.URL.Path == SubscriptionsPath || strings.HasPrefix(r.URL.Path, SubscriptionsPath+"/") {
			h.cors(w, r)
			h.serveSubscriptions(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	preflight := h.cors(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.serveSubscribe(w, r)
	case http.MethodPost:
		h.servePublish(w, r)
	case http.MethodOptions:
		if preflight {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	}
}

// cors sets the CORS headers of an allowed origin (credentials allowed, as EventSource's
// withCredentials needs). It reports a preflight request from an allowed origin.
func (h *Hub) cors(w http.ResponseWriter, r *http.Request) (preflight bool) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.cfg.CORSOrigins) == 0 {
		return false
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	if !slices.Contains(h.cfg.CORSOrigins, origin) && !slices.Contains(h.cfg.CORSOrigins, "*") {
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Credentials", "true")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "authorization, cache-control, last-event-id, content-type")
		hd.Set("Access-Control-Max-Age", "600")
		return true
	}
	return false
}
