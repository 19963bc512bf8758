// Package hub is a node's half of Herald: which of this node's connections hold which topics,
// the stitch of history and live events, and the per-connection queues that carry frames to
// sockets.
//
// Live events arrive from the engine through Deliver (the hub is the engine's herald.Sink).
// The stitch (stitch.go, stitch_stream.go) keeps the node's position in each topic and checks
// every live event against it through the event's Prev link: an event that continues the
// chain is encoded once and queued on every subscriber; a duplicate is dropped; anything else
// is held while a fill reads the missing events from history, and then spliced back in. So the
// node's stream of each topic is gap-free, duplicate-free and in order, whatever the engine
// delivers. A new connection registers under the topic's lock at the node's position H,
// replays its history from its cursor up to H, and then drains the live frames (all after H)
// that queued meanwhile; a cursor ahead of H makes the node catch up first.
//
// Fan-out never waits on a socket: it appends a shared frame to each connection's bounded
// queue; a connection whose queue exceeds its byte bound is reset as a slow consumer
// (socket.go) and recovers through its cursor when it reconnects. Heartbeats and lifetimes
// come from one housekeeping goroutine's timing wheels (housekeep.go).
//
// A stream is written either by its HTTP handler goroutine (Conn.Run: HTTP/2, TLS, other
// systems) or, for a hijacked plain HTTP/1.1 connection on Linux, by the hub's writer pool
// (Conn.RunDetached): a few workers with non-blocking writes, a flusher goroutine only while
// a socket is full, and epoll for client closes, so an idle stream holds no goroutine and no
// buffer. See pool.go.
package hub

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
)

// Defaults for Options.
const (
	DefaultHeartbeat     = 15 * time.Second
	DefaultRetry         = 2 * time.Second
	DefaultMaxQueueBytes = 1 << 20
	DefaultSendBuffer    = 64 << 10
	DefaultWriteTimeout  = 30 * time.Second
	DefaultReadyWait     = time.Second
	DefaultHistoryPage   = 500
	DefaultSettle        = time.Second
	DefaultClockSkew     = time.Second
)

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	Engine   herald.Engine
	Observer Observer
	Logger   *slog.Logger
	// Heartbeat is the idle interval after which a stream gets a heartbeat.
	Heartbeat time.Duration
	// HeartbeatEvent, when set, sends heartbeats as events of that name with a small JSON
	// data instead of comment lines.
	HeartbeatEvent string
	// Retry is the reconnect delay sent to clients in the "retry:" field.
	Retry time.Duration
	// MaxLifetime ends streams after this long, jittered by ±10%; 0 means never.
	MaxLifetime time.Duration
	// MaxQueueBytes bounds each connection's queue of unwritten frames.
	MaxQueueBytes int
	// SendBuffer, when positive, is the kernel send buffer (SO_SNDBUF) of each hijacked
	// stream's socket (socket.go); 0 leaves it to the kernel's autotuning.
	SendBuffer int
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration
	// ReadyWait is how long Open waits for the engine before a stream is committed anyway.
	ReadyWait time.Duration
	// HistoryPage is how many events one history read fetches.
	HistoryPage int
	// Settle is when, after a topic's engine subscription became active, the hub reads its
	// history once more: on a broker cluster, interest reaches the other servers a moment
	// after Subscribe returns, and an event published in that moment would otherwise wait
	// for the next one to be noticed.
	Settle time.Duration
	// ClockSkew is how far the engine's event times may run behind this node's clock. A
	// stream without a cursor whose response went out before the node knew where its topics
	// stood replays the events accepted from ClockSkew before that response on.
	ClockSkew time.Duration
	// Presence, when set, is told when a stream joins its topics (once it is live) and when
	// it leaves them.
	Presence PresenceTracker
}

// PresenceTracker follows which users hold which topics on this node. Calls must not block.
type PresenceTracker interface {
	// Join is called when a stream of user ("" for anonymous) starts receiving topics.
	Join(user string, topics []herald.Topic)
	// Leave is called once for every Join, when the stream ends.
	Leave(user string, topics []herald.Topic)
}

// Hub is one node's set of topics and connections.
type Hub struct {
	opts   Options
	engine herald.Engine
	obs    Observer
	log    *slog.Logger
	seed   maphash.Seed

	shards [numShards]topicShard
	conns  [numShards]connShard

	ctx      context.Context
	cancel   context.CancelFunc
	draining atomic.Bool

	spawnMu  sync.Mutex
	stopping bool           // Close began: spawn starts nothing more
	wg       sync.WaitGroup // every goroutine spawn started

	resyncMu sync.Mutex
	resynced chan struct{} // closed and replaced by every Resync

	heartbeat atomic.Pointer[frame]

	poolOnce sync.Once
	pool     *pool // the writer pool for detached streams; nil until CanDetach started it

	chunkBufs sync.Pool // *[]byte: chunk buffers of the setup writes of hijacked streams (chunked.go)
}

const numShards = 64

type topicShard struct {
	mu     sync.Mutex
	topics map[herald.Topic]*topic
}

// connShard holds a stripe of the node's live streams. Every live stream is in exactly one
// slot of the housekeeping wheel whenever mu is free (housekeep.go): the wheel is the set of
// streams, with no map beside it (a map entry per stream was ~31 bytes, issue 17).
type connShard struct {
	mu    sync.Mutex
	n     int                 // live streams in the wheel
	wheel [wheelSlots][]*Conn // housekeep.go
	spare []*Conn
}

// New returns a hub for opts.Engine. Call Start to attach it to the engine.
func New(opts Options) *Hub {
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.MaxQueueBytes <= 0 {
		opts.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ReadyWait <= 0 {
		opts.ReadyWait = DefaultReadyWait
	}
	if opts.HistoryPage <= 0 {
		opts.HistoryPage = DefaultHistoryPage
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	h := &Hub{opts: opts, engine: opts.Engine, obs: opts.Observer, log: opts.Logger, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].topics = make(map[herald.Topic]*topic)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.resynced = make(chan struct{})
	h.heartbeat.Store(newHeartbeatFrame(opts.HeartbeatEvent, time.Now().UnixNano()))
	return h
}

// Start attaches the hub to its engine and starts housekeeping (heartbeats, lifetimes).
func (h *Hub) Start(ctx context.Context) error {
	if err := h.engine.Start(ctx, h); err != nil {
		return err
	}
	h.spawn(h.housekeep)
	return nil
}

// Close stops housekeeping and ends every stream at once with ReasonShutdown. It returns
// once every goroutine of the hub (subscriptions, fills, housekeeping, the writer pool) has
// ended. It does not close the engine.
func (h *Hub) Close() {
	h.draining.Store(true)
	h.poolOnce.Do(func() {}) // no pool starts after this
	h.eachConn(func(c *Conn) { c.close(ReasonShutdown) })
	if h.pool != nil {
		h.pool.shutdown() // waits until the pool has ended every detached stream
	}
	h.spawnMu.Lock()
	h.stopping = true
	h.spawnMu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Drain ends every stream at a random moment within window, so clients reconnect (to other
// nodes) spread out rather than all at once, and makes new streams end right after they
// open. It returns when every stream ended or ctx is done.
func (h *Hub) Drain(ctx context.Context, window time.Duration) {
	h.draining.Store(true)
	var timers []*time.Timer
	h.eachConn(func(c *Conn) {
		d := time.Duration(0)
		if window > 0 {
			d = rand.N(window)
		}
		timers = append(timers, time.AfterFunc(d, func() { c.close(ReasonShutdown) }))
	})
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for h.Conns() > 0 {
		select {
		case <-ctx.Done():
			h.eachConn(func(c *Conn) { c.close(ReasonShutdown) })
			return
		case <-tick.C:
		}
	}
}

// Conns returns the number of live streams on this node.
func (h *Hub) Conns() int {
	n := 0
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// Topics returns the number of topics with subscribers on this node.
func (h *Hub) Topics() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		n += len(s.topics)
		s.mu.Unlock()
	}
	return n
}

// HasSubscribers reports whether this node has a stream on topic.
func (h *Hub) HasSubscribers(name herald.Topic) bool {
	s := h.shard(name)
	s.mu.Lock()
	t := s.topics[name]
	s.mu.Unlock()
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs) > 0
}

func (h *Hub) shard(name herald.Topic) *topicShard {
	return &h.shards[maphash.String(h.seed, string(name))%numShards]
}

func (h *Hub) connShard(c *Conn) *connShard {
	return &h.conns[c.id%numShards]
}

func (h *Hub) addConn(c *Conn) {
	s := h.connShard(c)
	tick := int64(wheelTick(h.opts.Heartbeat))
	s.mu.Lock()
	s.n++
	s.placeLocked(c, h.nextDuty(c), tick, time.Now().UnixNano()/tick)
	s.mu.Unlock()
}

func (h *Hub) removeConn(c *Conn) {
	s := h.connShard(c)
	s.mu.Lock()
	if c.widx >= 0 { // in the wheel: added and not yet removed
		s.n--
		s.unplaceLocked(c)
	}
	s.mu.Unlock()
}

// eachConn calls f for every live stream; f must not block.
func (h *Hub) eachConn(f func(*Conn)) {
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.Lock()
		cs := make([]*Conn, 0, s.n)
		for _, slot := range s.wheel {
			cs = append(cs, slot...)
		}
		s.mu.Unlock()
		for _, c := range cs {
			f(c)
		}
	}
}

// lifetimeDeadline returns the jittered end of a stream started at now, or 0.
func (h *Hub) lifetimeDeadline(now time.Time) int64 {
	if h.opts.MaxLifetime <= 0 {
		return 0
	}
	jitter := time.Duration(rand.Int64N(int64(h.opts.MaxLifetime)/5+1)) - h.opts.MaxLifetime/10
	return now.Add(h.opts.MaxLifetime + jitter).UnixNano()
}

var _ herald.Sink = (*Hub)(nil)
