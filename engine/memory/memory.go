// Package memory is Herald's embedded engine for a single node: per-topic history in
// in-process ring buffers and live delivery straight to the node's hub, with no broker.
//
// Topics live in 64 shards chosen by an FNV-1a hash of the topic name. Each shard's mutex
// (a striped lock) guards its topics' history, and Publish hands an event to the Sink while
// still holding it, so per-topic order is the same in history and on the live feed, and a
// Subscribe that returns sees every later event. The price is that Sink.Deliver must not
// block and must not call back into the engine (the hub enqueues, and for a topic of at
// most four subscribers makes their non-blocking socket writes, under this lock).
//
// A topic gets its epoch (8 random characters of [0-9a-z]) and Seq 1 at its first publish;
// sequence numbers are dense, so Prev is always Seq-1. A topic holds at most Retention.Size
// events, none older than Retention.TTL: expired events are dropped lazily whenever the
// topic is touched and by a janitor goroutine that runs between Start and Close. A topic with
// no retained event and no subscriber is forgotten entirely, so its next publish starts a new
// epoch at Seq 1. Nothing survives a restart: every cursor from a previous process is from an
// unknown epoch, and the hub answers it with a reset.
//
// Publish allocates the returned events and one copy of the batch's data, nothing else
// (see BenchmarkPublish for figures).
package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
)

// Defaults used for zero Options fields and zero Retention fields.
const (
	// DefaultHistorySize is how many events a topic keeps when its Retention.Size is 0.
	DefaultHistorySize = herald.DefaultHistorySize
	// DefaultHistoryTTL is how long a topic keeps an event when its Retention.TTL is 0.
	DefaultHistoryTTL = herald.DefaultHistoryTTL
	// DefaultJanitorInterval is how often the janitor drops expired events and forgets
	// idle topics when Options.JanitorInterval is 0.
	DefaultJanitorInterval = 10 * time.Second
)

// numShards is the number of topic shards (a power of two).
const numShards = 64

// DefaultRetention is the retention used when Options.Retention is nil: DefaultHistorySize
// events, none older than DefaultHistoryTTL, for every topic.
func DefaultRetention(herald.Topic) herald.Retention {
	return herald.Retention{Size: DefaultHistorySize, TTL: DefaultHistoryTTL}
}

// Options configure an Engine. The zero Options is ready to use.
type Options struct {
	// Retention returns a topic's retention; it is called once, when the topic is created.
	// A zero Size or TTL in its answer means DefaultHistorySize or DefaultHistoryTTL; a
	// negative TTL means no age limit. Nil means DefaultRetention.
	Retention herald.RetentionFunc
	// DedupWindow is how many recent Message.DedupKeys each topic remembers (keys older
	// than the topic's TTL are forgotten anyway). 0 means DefaultDedupWindow.
	DedupWindow int
	// JanitorInterval is how often expired events are dropped and idle topics forgotten in
	// the background. 0 means DefaultJanitorInterval.
	JanitorInterval time.Duration
	// Logger receives the engine's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used for event times and expiry. Nil means time.Now; tests set it.
	Now func() time.Time
}

// Engine is the memory engine. Create one with New; it is safe for concurrent use.
type Engine struct {
	retention   herald.RetentionFunc
	dedupWindow int
	interval    time.Duration
	log         *slog.Logger
	now         func() time.Time

	sink    atomic.Pointer[herald.Sink]
	closed  atomic.Bool
	started atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	close   sync.Once

	shards [numShards]shard

	presence presenceStore // see presence.go
}

// shard is a stripe of topics under one lock, padded to its own cache line.
//
// Which topics the node subscribes to is a set of its own (subs) rather than a flag of the
// topic entry: a subscribed topic that was never published has no state worth an entry, so
// a node with a topic per idle stream holds a set member per topic, not a topic struct
// (issue 17).
type shard struct {
	mu     sync.Mutex
	topics map[herald.Topic]*topic
	subs   map[herald.Topic]struct{} // topics the node subscribes to
	_      [40]byte
}

// subscribedLocked reports whether the node subscribes to name.
func (s *shard) subscribedLocked(name herald.Topic) bool {
	_, ok := s.subs[name]
	return ok
}

var (
	_ herald.Engine = (*Engine)(nil)
	_ herald.Pinger = (*Engine)(nil)
)

// New returns a memory engine configured by opts. Call Start before Subscribe.
func New(opts Options) *Engine {
	e := &Engine{
		retention:   opts.Retention,
		dedupWindow: opts.DedupWindow,
		interval:    opts.JanitorInterval,
		log:         opts.Logger,
		now:         opts.Now,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if e.retention == nil {
		e.retention = DefaultRetention
	}
	if e.dedupWindow <= 0 {
		e.dedupWindow = DefaultDedupWindow
	}
	if e.interval <= 0 {
		e.interval = DefaultJanitorInterval
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	for i := range e.shards {
		e.shards[i].topics = make(map[herald.Topic]*topic)
		e.shards[i].subs = make(map[herald.Topic]struct{})
	}
	return e
}

// Start makes the engine deliver live events of subscribed topics to sink and starts the
// janitor. It may be called once.
func (e *Engine) Start(ctx context.Context, sink herald.Sink) error {
	if sink == nil {
		return errors.New("memory: start: nil sink")
	}
	if e.closed.Load() {
		return fmt.Errorf("memory: start: %w", herald.ErrClosed)
	}
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("memory: start: already started")
	}
	e.sink.Store(&sink)
	go e.janitor()
	e.log.DebugContext(ctx, "memory engine started", "shards", numShards, "janitor_interval", e.interval)
	return nil
}

// Close stops the janitor and makes later calls fail with herald.ErrClosed. History is
// dropped with the engine. Close is idempotent.
func (e *Engine) Close() error {
	e.close.Do(func() {
		e.closed.Store(true)
		close(e.stop)
		if e.started.Load() {
			<-e.done
		}
	})
	return nil
}

// Ping reports herald.ErrClosed after Close, and nil otherwise: memory is always reachable.
func (e *Engine) Ping(ctx context.Context) error {
	return e.check(ctx, "ping")
}

// Subscribe makes Publish deliver topic's events to the sink. It is idempotent. A topic
// that was never published gets no entry, so History keeps answering Epoch "" for it until
// its first publish.
func (e *Engine) Subscribe(ctx context.Context, topic herald.Topic) error {
	if err := e.check(ctx, "subscribe"); err != nil {
		return err
	}
	s := e.shardFor(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Expire first: a topic that had nothing left before this subscription is forgotten
	// (its next publish starts a new epoch), as when it is looked up unsubscribed.
	e.lookupLocked(s, topic, e.now().UnixNano())
	s.subs[topic] = struct{}{}
	return nil
}

// Unsubscribe stops delivering topic's events. A topic left with no retained event is
// forgotten.
func (e *Engine) Unsubscribe(ctx context.Context, topic herald.Topic) error {
	if err := e.check(ctx, "unsubscribe"); err != nil {
		return err
	}
	s := e.shardFor(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, topic)
	e.lookupLocked(s, topic, e.now().UnixNano()) // forgets the topic if nothing of it remains
	return nil
}

// History returns up to limit retained events of topic with Seq > after, oldest first, and
// the topic's state. An unknown or forgotten topic has the zero state (Epoch ""). The
// events' Data is shared with the engine's history and must not be modified.
func (e *Engine) History(ctx context.Context, topic herald.Topic, after uint64, limit int) (herald.History, error) {
	if err := e.check(ctx, "history"); err != nil {
		return herald.History{}, err
	}
	s := e.shardFor(topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := e.lookupLocked(s, topic, e.now().UnixNano())
	if t == nil {
		return herald.History{}, nil
	}
	return herald.History{Events: t.historyLocked(after, limit), State: t.stateLocked()}, nil
}

// check returns the error for an operation on a closed engine or with a done context.
func (e *Engine) check(ctx context.Context, op string) error {
	if e.closed.Load() {
		return fmt.Errorf("memory: %s: %w", op, herald.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// shardFor returns the shard holding topic, by FNV-1a hash (inlined: hash/fnv would
// allocate a hasher per call).
func (e *Engine) shardFor(topic herald.Topic) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return &e.shards[h%numShards]
}

// lookupLocked returns topic's entry after dropping its expired events, or nil when the
// topic is unknown or was just forgotten because nothing of it remains.
func (e *Engine) lookupLocked(s *shard, name herald.Topic, now int64) *topic {
	t := s.topics[name]
	if t == nil {
		return nil
	}
	t.expireLocked(now)
	if t.forgettableLocked(s.subscribedLocked(name)) {
		delete(s.topics, name)
		return nil
	}
	return t
}

// newTopic returns an entry for a topic without history, its retention resolved.
func (e *Engine) newTopic(name herald.Topic) *topic {
	return newTopicState(name, e.retention(name).WithDefaults())
}
