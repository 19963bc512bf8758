package memory

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

var (
	_ herald.PresenceEngine  = (*Engine)(nil)
	_ herald.OnlinePublisher = (*Engine)(nil)
)

// Presence returns the engine's in-process presence store. A memory engine is one node, so
// the store only ever holds that node's shares; it keeps the TTL semantics of the broker
// stores anyway (a share not rewritten within its TTL is ignored and dropped), so the
// presence package behaves the same over every engine.
func (e *Engine) Presence() herald.PresenceStore {
	e.presence.init(e.now)
	return &e.presence
}

// PublishOnline publishes msgs like Publish and reports, per event, whether its topic had a
// subscriber on this node right after the publish. The hub subscribes a topic while it has
// streams on it (from the moment a stream opens until the last one ends), so the answer is
// exact for a single node up to streams that are opening or closing at that very moment.
func (e *Engine) PublishOnline(ctx context.Context, msgs []herald.Message) ([]herald.Event, []bool, error) {
	evs, err := e.Publish(ctx, msgs)
	online := make([]bool, len(evs))
	for i := range evs {
		if i > 0 && evs[i].Topic == evs[i-1].Topic {
			online[i] = online[i-1]
			continue
		}
		online[i] = e.subscribed(evs[i].Topic)
	}
	return evs, online, err
}

// subscribed reports whether the hub has subscribed topic.
func (e *Engine) subscribed(name herald.Topic) bool {
	s := e.shardFor(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribedLocked(name)
}

// presenceStore is herald.PresenceStore in process memory. Its zero value is ready after
// init.
type presenceStore struct {
	once sync.Once
	now  func() time.Time
	// base is the store's time origin: expiries are kept as durations since it (on the
	// monotonic clock, like time.Time's comparisons), 8 bytes instead of a time.Time's 24.
	base  time.Time
	mu    sync.Mutex
	topic map[herald.Topic][]topicShare   // topic → each node's share
	user  map[string]map[string]userShare // user → node → share
}

// topicShare is one node's share of a topic. Shares are slices, not maps: a cluster has
// few nodes and a topic per user has one user, so a topic costs a few small allocations.
type topicShare struct {
	node    string
	users   []userCount
	expires time.Duration // since presenceStore.base
}

type userCount struct {
	user string
	n    int
}

type userShare struct {
	conns   int
	expires time.Duration // since presenceStore.base
}

func (p *presenceStore) init(now func() time.Time) {
	p.once.Do(func() {
		p.now = now
		p.base = now()
		p.topic = make(map[herald.Topic][]topicShare)
		p.user = make(map[string]map[string]userShare)
	})
}

// sinceBase returns the store's clock: the time since base.
func (p *presenceStore) sinceBase() time.Duration { return p.now().Sub(p.base) }

// UpdatePresence writes node's shares, each expiring after ttl.
func (p *presenceStore) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	exp := p.sinceBase() + ttl
	for t, users := range u.Topics {
		shares := p.topic[t]
		i := shareIndex(shares, node)
		if len(users) == 0 {
			if i >= 0 {
				p.setShares(t, removeShare(shares, i))
			}
			continue
		}
		if i < 0 {
			shares = append(shares, topicShare{node: node})
			i = len(shares) - 1
		}
		sh := &shares[i]
		// Rewrite the share in place: a heartbeat's rewrite of an unchanged topic allocates
		// nothing.
		cp := sh.users[:0]
		if cap(cp) < len(users) || cap(cp) > 2*len(users)+8 {
			cp = make([]userCount, 0, len(users))
		}
		for k, v := range users {
			cp = append(cp, userCount{k, v})
		}
		sh.users, sh.expires = cp, exp
		p.topic[t] = shares
	}
	for user, n := range u.Users {
		if n <= 0 {
			if m := p.user[user]; m != nil {
				delete(m, node)
				if len(m) == 0 {
					delete(p.user, user)
				}
			}
			continue
		}
		m := p.user[user]
		if m == nil {
			m = make(map[string]userShare)
			p.user[user] = m
		}
		m[node] = userShare{conns: n, expires: exp}
	}
	return nil
}

// TopicPresence sums the live shares of topic and drops expired ones.
func (p *presenceStore) TopicPresence(ctx context.Context, topic herald.Topic) (herald.TopicPresence, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.sinceBase()
	tp := herald.TopicPresence{Users: map[string]int{}}
	shares := p.topic[topic]
	for i := 0; i < len(shares); {
		if now >= shares[i].expires {
			shares = removeShare(shares, i)
			continue
		}
		for _, u := range shares[i].users {
			tp.Connections += u.n
			if u.user != "" {
				tp.Users[u.user] += u.n
			}
		}
		i++
	}
	if len(shares) != len(p.topic[topic]) {
		p.setShares(topic, shares)
	}
	return tp, nil
}

// setShares stores topic's shares, forgetting the topic when there is none.
func (p *presenceStore) setShares(topic herald.Topic, shares []topicShare) {
	if len(shares) == 0 {
		delete(p.topic, topic)
		return
	}
	p.topic[topic] = shares
}

// shareIndex returns the index of node's share, or -1.
func shareIndex(shares []topicShare, node string) int {
	for i := range shares {
		if shares[i].node == node {
			return i
		}
	}
	return -1
}

// removeShare removes shares[i], keeping the order of the others.
func removeShare(shares []topicShare, i int) []topicShare {
	last := len(shares) - 1
	copy(shares[i:], shares[i+1:])
	shares[last] = topicShare{}
	return shares[:last]
}

// UserPresence sums the live shares of user and drops expired ones.
func (p *presenceStore) UserPresence(ctx context.Context, user string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.sinceBase()
	n := 0
	for node, sh := range p.user[user] {
		if now >= sh.expires {
			delete(p.user[user], node)
			continue
		}
		n += sh.conns
	}
	return n, nil
}
