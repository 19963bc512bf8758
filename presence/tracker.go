package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
)

// Defaults for Options.
const (
	// DefaultHeartbeat is how often a node rewrites each of its shares.
	DefaultHeartbeat = 5 * time.Second
	// DefaultTTL is how long a share lives without a rewrite: the bound within which a dead
	// node's users leave presence.
	DefaultTTL = 15 * time.Second
	// DefaultTimeout bounds one write or read of the store.
	DefaultTimeout = 5 * time.Second
)

// Event names of join and leave events.
const (
	JoinEvent  herald.EventName = "join"
	LeaveEvent herald.EventName = "leave"
)

// Options configure a Tracker.
type Options struct {
	// Store is the cluster-wide presence store (the engine's). Required.
	Store herald.PresenceStore
	// Node names this node in the store; empty means a random id. Nodes must differ.
	Node string
	// Heartbeat is how often every share is rewritten; 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// TTL is how long a share lives without a rewrite; 0 means DefaultTTL. It must exceed
	// Heartbeat (New makes it at least twice the heartbeat).
	TTL time.Duration
	// Events reports whether a topic wants join and leave events; nil means none does.
	Events func(herald.Topic) bool
	// Publish publishes join and leave events (the engine's Publish). Required with Events.
	Publish func(ctx context.Context, msgs []herald.Message) ([]herald.Event, error)
	// Logger receives the tracker's logs; nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives herald_presence_store_errors_total (metrics.go).
	Registerer prometheus.Registerer
}

// Tracker is one node's presence: it implements hub.PresenceTracker. Create it with New,
// run it with Start, stop it with Close (goodbye) or Abandon (as if the node died).
type Tracker struct {
	opts      Options
	log       *slog.Logger
	seed      maphash.Seed // spreads shares over heartbeat slots
	storeErrs *prometheus.CounterVec

	mu     sync.Mutex
	topics map[herald.Topic]userCounts // topic → user → local connections
	users  map[string]int              // named user → local connections
	dirtyT map[herald.Topic]struct{}
	dirtyU map[string]struct{}
	// changed holds (topic, user) pairs whose presence changed since the last write, with
	// whether the user held the topic on this node before the first change.
	changed map[pair]bool

	// The writer's own (run's goroutine only): the update it sends, and the per-topic maps
	// of earlier writes, cleared for reuse. A heartbeat rewrites every share once per
	// Heartbeat; made afresh, each topic's map would be ~250 B of garbage per topic every
	// few seconds, which on an idle node with a topic per stream keeps the heap cycling up
	// to its GC goal.
	upd   herald.PresenceUpdate
	spare []map[string]int

	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
	start  sync.Once
}

type pair struct {
	topic herald.Topic
	user  string
}

var _ hub.PresenceTracker = (*Tracker)(nil)

// New returns a tracker; call Start to begin writing to the store.
func New(opts Options) (*Tracker, error) {
	if opts.Store == nil {
		return nil, errors.New("presence: no store")
	}
	if opts.Events != nil && opts.Publish == nil {
		return nil, errors.New("presence: join and leave events need Options.Publish")
	}
	if opts.Node == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.Node = hex.EncodeToString(b[:])
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.TTL < 2*opts.Heartbeat {
		opts.TTL = 2 * opts.Heartbeat
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		opts:      opts,
		log:       opts.Logger,
		seed:      maphash.MakeSeed(),
		storeErrs: newStoreErrors(opts.Registerer),
		topics:    make(map[herald.Topic]userCounts),
		users:     make(map[string]int),
		dirtyT:    make(map[herald.Topic]struct{}),
		dirtyU:    make(map[string]struct{}),
		changed:   make(map[pair]bool),
		upd:       herald.PresenceUpdate{Topics: make(map[herald.Topic]map[string]int), Users: make(map[string]int)},
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}, nil
}

// Node returns the tracker's node id in the store.
func (t *Tracker) Node() string { return t.opts.Node }

// TTL returns the effective share TTL: the bound within which a dead node leaves presence.
func (t *Tracker) TTL() time.Duration { return t.opts.TTL }

// Start runs the writer until Close or Abandon.
func (t *Tracker) Start() {
	t.start.Do(func() { go t.run() })
}

// Join records a live stream of user on topics; it never blocks.
func (t *Tracker) Join(user string, topics []herald.Topic) { t.change(user, topics, 1) }

// Leave records the end of a stream recorded by Join; it never blocks.
func (t *Tracker) Leave(user string, topics []herald.Topic) { t.change(user, topics, -1) }

func (t *Tracker) change(user string, topics []herald.Topic, d int) {
	t.mu.Lock()
	for _, name := range topics {
		c := t.topics[name]
		before := c.add(user, d)
		if c.empty() {
			delete(t.topics, name)
		} else {
			t.topics[name] = c
		}
		t.dirtyT[name] = struct{}{}
		if user != "" && t.opts.Events != nil && t.opts.Events(name) {
			p := pair{name, user}
			if _, ok := t.changed[p]; !ok {
				t.changed[p] = before > 0
			}
		}
	}
	if user != "" {
		if n := t.users[user] + d; n > 0 {
			t.users[user] = n
		} else {
			delete(t.users, user)
		}
		t.dirtyU[user] = struct{}{}
	}
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Local returns this node's connections on topic.
func (t *Tracker) Local(topic herald.Topic) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.topics[topic].total()
}

// Topic returns topic's cluster-wide presence.
func (t *Tracker) Topic(ctx context.Context, topic herald.Topic) (herald.TopicPresence, error) {
	tp, err := t.opts.Store.TopicPresence(ctx, topic)
	if err != nil {
		t.storeErrs.WithLabelValues(opRead).Inc()
		return tp, fmt.Errorf("presence of topic %q: %w", topic, err)
	}
	return tp, nil
}

// User returns user's cluster-wide connections.
func (t *Tracker) User(ctx context.Context, user string) (int, error) {
	n, err := t.opts.Store.UserPresence(ctx, user)
	if err != nil {
		t.storeErrs.WithLabelValues(opRead).Inc()
		return 0, fmt.Errorf("presence of user %q: %w", user, err)
	}
	return n, nil
}

// Online reports whether topic has a subscriber on any node: from local counts when this
// node has one, else from the store (which lags a join on another node by that node's
// write round trip).
func (t *Tracker) Online(ctx context.Context, topic herald.Topic) (bool, error) {
	if t.Local(topic) > 0 {
		return true, nil
	}
	tp, err := t.Topic(ctx, topic)
	return tp.Connections > 0, err
}

// Close removes this node's shares from the store (goodbye) and stops the writer.
func (t *Tracker) Close() {
	t.halt()
	t.mu.Lock()
	u := herald.PresenceUpdate{Topics: make(map[herald.Topic]map[string]int), Users: make(map[string]int)}
	for name := range t.topics {
		u.Topics[name] = nil
	}
	for name := range t.dirtyT {
		u.Topics[name] = nil
	}
	for user := range t.users {
		u.Users[user] = 0
	}
	for user := range t.dirtyU {
		u.Users[user] = 0
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	if err := t.opts.Store.UpdatePresence(ctx, t.opts.Node, u, t.opts.TTL); err != nil {
		t.storeErrs.WithLabelValues(opWrite).Inc()
		t.log.Warn("presence: goodbye failed; this node's shares expire within the TTL", "err", err, "ttl", t.opts.TTL)
	}
}

// Abandon stops the writer without removing anything, as if the node had died: its shares
// expire within the TTL. Tests use it.
func (t *Tracker) Abandon() { t.halt() }

func (t *Tracker) halt() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	t.start.Do(func() { close(t.done) }) // never started: no writer to wait for
	<-t.done
}

// heartbeatSlots is how many parts the heartbeat rewrite is cut into: every
// Heartbeat/heartbeatSlots the writer rewrites the shares of one part (by hash), so each
// share is still rewritten once per heartbeat but a node with 10,000 topics never sends them
// to the store in one burst (which, on a shared broker, delays everybody's publishes).
const heartbeatSlots = 10

// run is the writer: it writes dirty shares when woken, and every Heartbeat/heartbeatSlots
// the dirty shares and one slot's share of the rest.
func (t *Tracker) run() {
	defer close(t.done)
	tick := time.NewTicker(t.opts.Heartbeat / heartbeatSlots)
	defer tick.Stop()
	slot := 0
	for {
		select {
		case <-t.stop:
			return
		case <-t.kick:
			t.write(-1)
		case <-tick.C:
			t.write(slot)
			slot = (slot + 1) % heartbeatSlots
		}
	}
}

// inSlot reports whether name's share is rewritten in heartbeat slot slot.
func (t *Tracker) inSlot(name string, slot int) bool {
	return maphash.String(t.seed, name)%heartbeatSlots == uint64(slot)
}

// write sends the dirty shares, and with slot ≥ 0 the shares of that heartbeat slot, and
// then the join and leave events those changes call for.
func (t *Tracker) write(slot int) {
	t.mu.Lock()
	u := t.upd
	defer t.recycle(u)
	addTopic := func(name herald.Topic) {
		if c := t.topics[name]; !c.empty() {
			u.Topics[name] = c.fill(t.spareMap())
		} else {
			u.Topics[name] = nil // removes the node's share
		}
	}
	for name := range t.dirtyT {
		addTopic(name)
	}
	for user := range t.dirtyU {
		u.Users[user] = t.users[user]
	}
	if slot >= 0 {
		for name := range t.topics {
			if t.inSlot(string(name), slot) {
				addTopic(name)
			}
		}
		for user, n := range t.users {
			if t.inSlot(user, slot) {
				u.Users[user] = n
			}
		}
	}
	clear(t.dirtyT)
	clear(t.dirtyU)
	var joins, leaves []pair
	for p, before := range t.changed {
		now := t.topics[p.topic].get(p.user) > 0
		switch {
		case !before && now:
			joins = append(joins, p)
		case before && !now:
			leaves = append(leaves, p)
		}
	}
	clear(t.changed)
	t.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	// Joins: was the user anywhere before this node's share says so?
	var msgs []herald.Message
	for _, p := range joins {
		tp, err := t.opts.Store.TopicPresence(ctx, p.topic)
		if err != nil {
			t.storeErrs.WithLabelValues(opRead).Inc()
			t.log.Warn("presence: read before join", "topic", p.topic, "err", err)
			continue
		}
		if tp.Users[p.user] == 0 {
			msgs = append(msgs, eventMessage(p, JoinEvent))
		}
	}
	if len(u.Topics) > 0 || len(u.Users) > 0 {
		if err := t.opts.Store.UpdatePresence(ctx, t.opts.Node, u, t.opts.TTL); err != nil {
			t.storeErrs.WithLabelValues(opWrite).Inc()
			t.log.Warn("presence: write failed; retrying at the next heartbeat", "err", err)
			t.mu.Lock()
			for name := range u.Topics {
				t.dirtyT[name] = struct{}{}
			}
			for user := range u.Users {
				t.dirtyU[user] = struct{}{}
			}
			t.mu.Unlock()
		}
	}
	for _, p := range leaves {
		tp, err := t.opts.Store.TopicPresence(ctx, p.topic)
		if err != nil {
			t.storeErrs.WithLabelValues(opRead).Inc()
			t.log.Warn("presence: read after leave", "topic", p.topic, "err", err)
			continue
		}
		if tp.Users[p.user] == 0 {
			msgs = append(msgs, eventMessage(p, LeaveEvent))
		}
	}
	for _, m := range msgs {
		// One message per call: a closed topic must not stop the others.
		if _, err := t.opts.Publish(ctx, []herald.Message{m}); err != nil && !errors.Is(err, herald.ErrTopicClosed) {
			t.log.Warn("presence: publish "+string(m.Name)+" event", "topic", m.Topic, "err", err)
		}
	}
}

// spareMap returns an empty map for one topic's counts: one of an earlier write's, or new.
func (t *Tracker) spareMap() map[string]int {
	if n := len(t.spare); n > 0 {
		m := t.spare[n-1]
		t.spare = t.spare[:n-1]
		return m
	}
	return make(map[string]int, 1)
}

// recycle empties u, the writer's update, once the store has it (stores copy or encode the
// counts and keep none of u's maps), and keeps its topics' maps for the next writes: up to
// what one heartbeat slot rewrites, so a burst of changes does not pin its maps for good.
func (t *Tracker) recycle(u herald.PresenceUpdate) {
	t.mu.Lock()
	keep := len(t.topics)/heartbeatSlots + 64
	t.mu.Unlock()
	for _, m := range u.Topics {
		if m != nil && len(t.spare) < keep {
			clear(m)
			t.spare = append(t.spare, m)
		}
	}
	if len(u.Topics) > 2*keep {
		t.upd.Topics = make(map[herald.Topic]map[string]int) // a burst's table: let it go
	} else {
		clear(u.Topics)
	}
	if len(u.Users) > 2*keep {
		t.upd.Users = make(map[string]int)
	} else {
		clear(u.Users)
	}
}

func eventMessage(p pair, name herald.EventName) herald.Message {
	data, _ := json.Marshal(struct {
		User string `json:"user"`
	}{p.user})
	return herald.Message{Topic: p.topic, Name: name, Data: data, SentTime: time.Now().UnixNano()}
}
