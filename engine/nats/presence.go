package natsengine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
)

// Presence store.
//
// The store is a JetStream key-value bucket "<prefix>_presence" (memory storage, history 1)
// whose bucket-level TTL (MaxAge) is the presence TTL, so the NATS server itself drops a
// share that was not rewritten within the TTL; this works on nats-server 2.9, which has no
// per-key TTL. Keys, with b64(x) the unpadded base64url of x (KV keys allow [-_=./A-Za-z0-9]):
//
//	t.<b64(topic)>.<b64(node)>   JSON user → connections: the node's share of topic
//	u.<b64(user)>.<b64(node)>    connections: the node's share of user
//
// A removed share is a KV delete (its marker expires with the TTL too). Reads watch
// "t.<b64(topic)>.*" (one filter subject, fine on 2.9) until the initial values are in.
// The bucket is created (or its TTL updated) at the first write, with that write's TTL;
// all nodes of a cluster must use the same TTL.

var _ herald.PresenceEngine = (*Engine)(nil)

type presenceStore struct {
	e   *Engine
	mu  sync.Mutex
	kv  jetstream.KeyValue
	ttl time.Duration
}

// Presence returns the engine's presence store (see the layout above).
func (e *Engine) Presence() herald.PresenceStore {
	e.presence.e = e
	return &e.presence
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (p *presenceStore) bucket(ctx context.Context, ttl time.Duration) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kv != nil && (ttl == 0 || ttl == p.ttl) {
		return p.kv, nil
	}
	name := p.e.opts.Prefix + "_presence"
	var kv jetstream.KeyValue
	var err error
	if ttl == 0 {
		kv, err = p.e.js.KeyValue(ctx, name)
	} else {
		kv, err = p.e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Description: "Herald presence: node shares of topics and users",
			History: 1, TTL: ttl, Storage: jetstream.MemoryStorage,
		})
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("natsengine: presence bucket %s: %w", name, err))
	}
	p.kv = kv
	if ttl != 0 {
		p.ttl = ttl
	}
	return kv, nil
}

// UpdatePresence writes node's shares: one KV put or delete per share.
func (p *presenceStore) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	kv, err := p.bucket(ctx, ttl)
	if err != nil {
		return err
	}
	nk := b64(node)
	put := func(key string, val []byte) error {
		if val == nil {
			if err := kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return err
			}
			return nil
		}
		_, err := kv.Put(ctx, key, val)
		return err
	}
	for t, users := range u.Topics {
		val, err := herald.EncodeTopicShare(users)
		if err != nil {
			return err
		}
		if err := put("t."+b64(string(t))+"."+nk, val); err != nil {
			return unavailable(fmt.Errorf("natsengine: presence of %q: %w", t, err))
		}
	}
	for user, n := range u.Users {
		if err := put("u."+b64(user)+"."+nk, herald.EncodeUserShare(n)); err != nil {
			return unavailable(fmt.Errorf("natsengine: presence of user %q: %w", user, err))
		}
	}
	return nil
}

// values returns the live values of the keys matching filter.
func (p *presenceStore) values(ctx context.Context, filter string) ([][]byte, error) {
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	kv, err := p.bucket(ctx, 0)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // nobody ever wrote presence
	}
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, unavailable(fmt.Errorf("natsengine: presence watch: %w", err))
	}
	defer w.Stop()
	var out [][]byte
	// The watcher marks the end of the initial values with nil once it has received as many
	// messages as were pending when it started. A share that expires (MaxAge) in between is
	// never delivered, and then the marker never comes: a watch that has been quiet for
	// presenceQuiet has delivered everything that is still alive.
	quiet := time.NewTimer(presenceQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, unavailable(fmt.Errorf("natsengine: presence read: %w", ctx.Err()))
		case <-quiet.C:
			return out, nil
		case entry, ok := <-w.Updates():
			if !ok || entry == nil {
				return out, nil // nil marks the end of the initial values
			}
			out = append(out, entry.Value())
			quiet.Reset(presenceQuiet)
		}
	}
}

// presenceQuiet is how long a presence read waits for the next value before it takes the
// watch as complete (see values).
const presenceQuiet = 500 * time.Millisecond

// TopicPresence sums the live shares of topic.
func (p *presenceStore) TopicPresence(ctx context.Context, topic herald.Topic) (herald.TopicPresence, error) {
	tp := herald.TopicPresence{Users: map[string]int{}}
	vals, err := p.values(ctx, "t."+b64(string(topic))+".*")
	if err != nil {
		return tp, err
	}
	for _, v := range vals {
		if err := tp.AddShare(v); err != nil {
			return tp, fmt.Errorf("natsengine: presence of %q: %w", topic, err)
		}
	}
	return tp, nil
}

// UserPresence sums the live shares of user.
func (p *presenceStore) UserPresence(ctx context.Context, user string) (int, error) {
	vals, err := p.values(ctx, "u."+b64(user)+".*")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range vals {
		n, err := herald.ParseUserShare(v)
		if err != nil {
			return 0, fmt.Errorf("natsengine: presence of user %q: %w", user, err)
		}
		total += n
	}
	return total, nil
}

// timeout bounds ctx by DefaultTimeout when it has no deadline.
func (p *presenceStore) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
