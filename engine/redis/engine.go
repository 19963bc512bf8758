// Package redis is Herald's Redis engine: topic history in Redis and live fan-out over Redis
// Pub/Sub, so that any number of stateless Herald nodes sharing one Redis (or Redis Cluster)
// act as one gateway, and a cursor issued by one node resumes exactly on another.
//
// # Publishing
//
// One Lua script per run of same-topic messages (see publishScript) reads the topic's meta,
// creates its epoch when absent (after FLUSHALL or expiry the next publish starts a new
// epoch, so old cursors get a reset), assigns dense sequence numbers (Prev = Seq-1), appends
// each event to the history sorted set, honours DedupKey (same key → same event), refuses
// publishes after a final event, trims history by size and age, sets the keys' expiry to the
// TTL so idle topics vanish, and PUBLISHes each encoded event on the topic's channel. All of
// it is one atomic script, so no subscriber sees an event that history lacks or the reverse.
// The client never retries a publish on its own (MaxRetries is -1): a retried script could
// append twice. A publish that fails for lack of Redis wraps herald.ErrEngineUnavailable.
//
// # Keys and channels
//
// For prefix P (Options.Prefix, default "herald") and topic T, with E = T where '%', '{' and
// '}' are written %25, %7B and %7D (injective, and E has no brace):
//
//	P:{E}        Pub/Sub channel of T's live events
//	P:{E}:m      hash   epoch, last, closed
//	P:{E}:h      zset   encoded events scored by seq
//	P:{E}:d      zset   dedup keys scored by their seq
//	P:bridge:leader  string  the Pub/Sub bridge leader's node id (lease)
//
// The hash tag {E} puts every key of a topic in one Redis Cluster slot.
//
// # Live events
//
// Interest-based: Subscribe and Unsubscribe (un)subscribe the topic's channel on one Pub/Sub
// connection per node, and one goroutine reads it and hands decoded events to the Sink, in
// order. A node without subscribers receives nothing. When that connection breaks, the
// engine reconnects with backoff, resubscribes every topic (and bridge pattern) and then
// calls Sink.Resync once, so the hub fills the gap from history.
//
// # Bridge
//
// See bridge.go and bridge_stream.go: the bridge rules are served by one leader node at a
// time (a lease in Redis), Pub/Sub patterns by PSUBSCRIBE and streams through a consumer
// group, so each message is stored once and each stream keeps its order.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/internal/epoch"
)

// Defaults for zero Options fields and zero Retention fields (the memory engine's values).
const (
	DefaultPrefix      = "herald"
	DefaultHistorySize = herald.DefaultHistorySize
	DefaultHistoryTTL  = herald.DefaultHistoryTTL
	// DefaultDedupWindow is how many recent sequence numbers' dedup keys a topic remembers.
	DefaultDedupWindow = 1000
	// DefaultLeaseTTL is how long the Pub/Sub bridge leader's lease lasts without renewal.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultHealthCheckInterval is how long the Pub/Sub reader waits for traffic before it
	// PINGs the connection.
	DefaultHealthCheckInterval = 5 * time.Second
)

// Options configure an Engine.
type Options struct {
	// URL is a go-redis URL: redis://[user:password@]host:port/db, rediss:// for TLS, or
	// with Cluster set, redis://host:port?addr=host2:port&addr=host3:port.
	URL string
	// Cluster makes URL name a Redis Cluster.
	Cluster bool
	// Client, when set, is used instead of URL (the engine does not close it). It must not
	// retry commands (MaxRetries -1), or a publish may be applied twice.
	Client goredis.UniversalClient
	// Retention returns a topic's retention at every publish. A zero Size or TTL means
	// DefaultHistorySize or DefaultHistoryTTL; a negative TTL means no age limit (the keys
	// then never expire). Nil means DefaultHistorySize and DefaultHistoryTTL everywhere.
	Retention herald.RetentionFunc
	// DedupWindow: see DefaultDedupWindow. 0 means the default.
	DedupWindow int
	// Prefix starts every key and channel; it may not contain '{' or '}'. "" means
	// DefaultPrefix.
	Prefix string
	// NodeID names this node in the bridge lease and as stream consumer. "" means a random id.
	NodeID string
	// Bridge lists the bridge rules this node serves (compiled by New).
	Bridge []bridge.Rule
	// LeaseTTL: see DefaultLeaseTTL.
	LeaseTTL time.Duration
	// HealthCheckInterval: see DefaultHealthCheckInterval.
	HealthCheckInterval time.Duration
	// Logger receives the engine's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Engine is the Redis engine. Create it with New.
type Engine struct {
	rdb       goredis.UniversalClient
	ownClient bool
	prefix    string
	retention herald.RetentionFunc
	window    int
	nodeID    string
	rules     []bridge.Rule
	leaseTTL  time.Duration
	health    time.Duration
	log       *slog.Logger

	ps     *goredis.PubSub
	sink   herald.Sink
	closed atomic.Bool
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	waiters map[string][]chan struct{} // channel or pattern → Subscribe calls awaiting confirmation
	lost    chan struct{}              // closed when the Pub/Sub connection is lost
	subs    map[string]struct{}        // topics subscribed by the hub

	bridge *pubsubBridge
}

var (
	_ herald.Engine = (*Engine)(nil)
	_ herald.Pinger = (*Engine)(nil)
)

// New connects to Redis (checking it with PING) and returns an engine. Call Start before
// Subscribe.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if err := bridge.CompileBrokerRules(opts.Bridge); err != nil {
		return nil, err
	}
	e := &Engine{
		rdb:       opts.Client,
		prefix:    opts.Prefix,
		retention: opts.Retention,
		window:    opts.DedupWindow,
		nodeID:    opts.NodeID,
		rules:     opts.Bridge,
		leaseTTL:  opts.LeaseTTL,
		health:    opts.HealthCheckInterval,
		log:       opts.Logger,
		waiters:   make(map[string][]chan struct{}),
		lost:      make(chan struct{}),
		subs:      make(map[string]struct{}),
	}
	if e.prefix == "" {
		e.prefix = DefaultPrefix
	}
	if strings.ContainsAny(e.prefix, "{}") {
		return nil, fmt.Errorf("redis engine: prefix %q contains a brace", e.prefix)
	}
	if e.retention == nil {
		e.retention = func(herald.Topic) herald.Retention { return herald.Retention{} }
	}
	if e.window <= 0 {
		e.window = DefaultDedupWindow
	}
	if e.nodeID == "" {
		e.nodeID = epoch.New()
	}
	if e.leaseTTL <= 0 {
		e.leaseTTL = DefaultLeaseTTL
	}
	if e.health <= 0 {
		e.health = DefaultHealthCheckInterval
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.log = e.log.With("engine", "redis", "node", e.nodeID)
	if e.rdb == nil {
		if opts.URL == "" {
			return nil, errors.New("redis engine: no URL")
		}
		c, err := newClient(opts.URL, opts.Cluster)
		if err != nil {
			return nil, err
		}
		e.rdb, e.ownClient = c, true
	}
	if err := e.Ping(ctx); err != nil {
		e.closeClient()
		return nil, err
	}
	return e, nil
}

func newClient(url string, cluster bool) (goredis.UniversalClient, error) {
	if cluster {
		o, err := goredis.ParseClusterURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis engine: cluster URL: %w", err)
		}
		o.MaxRetries = -1
		return goredis.NewClusterClient(o), nil
	}
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis engine: URL: %w", err)
	}
	o.MaxRetries = -1
	return goredis.NewClient(o), nil
}

func (e *Engine) closeClient() {
	if e.ownClient {
		_ = e.rdb.Close()
	}
}

// Start opens the node's Pub/Sub connection, begins delivering live events to sink and
// starts the bridge.
func (e *Engine) Start(ctx context.Context, sink herald.Sink) error {
	if e.closed.Load() {
		return herald.ErrClosed
	}
	if e.sink != nil {
		return errors.New("redis engine: started twice")
	}
	e.sink = sink
	e.ps = e.rdb.Subscribe(context.WithoutCancel(ctx))
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.readLoop(runCtx)
	}()
	e.startBridge(runCtx)
	return nil
}

// Ping reports whether Redis answers.
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return e.wrap("ping", err)
	}
	return nil
}

// Close stops the bridge and the reader and closes the connections.
func (e *Engine) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if e.stop != nil {
		e.stop()
	}
	e.stopBridge()
	if e.ps != nil {
		_ = e.ps.Close()
	}
	e.wg.Wait()
	e.closeClient()
	return nil
}

func (e *Engine) ret(t herald.Topic) herald.Retention {
	return e.retention(t).WithDefaults()
}

func ttlMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(d.Milliseconds(), 1)
}

// wrap classifies a Redis error: connection trouble, timeouts and a Redis that cannot serve
// (LOADING, CLUSTERDOWN, …) wrap herald.ErrEngineUnavailable.
func (e *Engine) wrap(op string, err error) error {
	if e.closed.Load() {
		return fmt.Errorf("redis engine: %s: %w", op, herald.ErrClosed)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redis engine: %s: %w: %w", op, herald.ErrEngineUnavailable, err)
	}
	if errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis engine: %s: %w", op, herald.ErrClosed)
	}
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "OOM"} {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("redis engine: %s: %w: %w", op, herald.ErrEngineUnavailable, err)
			}
		}
		return fmt.Errorf("redis engine: %s: %w", op, err)
	}
	return fmt.Errorf("redis engine: %s: %w: %w", op, herald.ErrEngineUnavailable, err)
}
