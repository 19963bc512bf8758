package natsengine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/presenceshare"
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
//	n.<b64(node)>                "1": the node wrote shares lately (see below)
//
// A removed share is a KV delete (its marker expires with the TTL too). The bucket is
// created (or its TTL updated) at the first write, with that write's TTL; all nodes of a
// cluster must use the same TTL.
//
// Reads. Every write also rewrites the node's "n." key, and each node keeps one long-lived
// watch on "n.*" (nodeWatch): the nodes that wrote presence lately. A read of a topic or user
// then asks each of those nodes' keys with a direct get, in parallel — one round trip, and no
// JetStream consumer per read. (A publish on a node that holds none of the topic's
// subscribers asks the store whether anybody does, so this is on the publish path.) While
// that watch is not up to date (just started, or no node wrote for a while), a read watches
// "t.<b64(topic)>.*" until the initial values are in, as every read once did.

var _ herald.PresenceEngine = (*Engine)(nil)

type presenceStore struct {
	e   *Engine
	mu  sync.Mutex
	kv  jetstream.KeyValue
	ttl time.Duration

	nodes     nodeWatch
	slowReads atomic.Int64 // reads that watched the keys (tests look)
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

// UpdatePresence writes node's shares: one KV put or delete per share, pipelined (see
// presenceWindow) so that a node with 10,000 topics rewrites them in a fraction of a second
// instead of one round trip after another.
func (p *presenceStore) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	if _, err := p.bucket(ctx, ttl); err != nil {
		return err
	}
	w := p.newWriter(ctx)
	nk := b64(node)
	// The node's marker first: a reader that sees one of its shares knows the node.
	if err := w.put("n."+nk, []byte("1"), "node "+node); err != nil {
		return p.check(err)
	}
	for t, users := range u.Topics {
		val, err := presenceshare.EncodeTopic(users)
		if err != nil {
			return err
		}
		if err := w.put("t."+b64(string(t))+"."+nk, val, string(t)); err != nil {
			return p.check(err)
		}
	}
	for user, n := range u.Users {
		if err := w.put("u."+b64(user)+"."+nk, presenceshare.EncodeUser(n), "user "+user); err != nil {
			return p.check(err)
		}
	}
	return p.check(w.wait(0))
}

// check passes err on, and forgets the bucket when err says it is gone (a memory-storage
// bucket does not survive a server restart): the next write creates it again.
func (p *presenceStore) check(err error) error {
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		p.mu.Lock()
		p.kv = nil
		p.mu.Unlock()
	}
	return err
}

// presenceWindow bounds the presence writes one UpdatePresence has in flight.
const presenceWindow = 256

// kvOpHeader marks a KV delete (nats.go's kv.Delete writes the same).
const kvOpHeader = "KV-Operation"

// presenceWriter pipelines KV writes of the presence bucket: each is a JetStream publish to
// "$KV.<bucket>.<key>" whose acknowledgement comes to the engine's shared inbox.
type presenceWriter struct {
	p        *presenceStore
	ctx      context.Context
	subj     string // "$KV.<bucket>."
	acks     chan ackReply
	what     []string // what[i] names the share of write i, for errors
	ids      []uint64 // ack tokens of the writes in flight, for cancel
	inflight int
}

func (p *presenceStore) newWriter(ctx context.Context) *presenceWriter {
	return &presenceWriter{
		p: p, ctx: ctx,
		subj: "$KV." + p.e.opts.Prefix + "_presence.",
		acks: make(chan ackReply, presenceWindow),
	}
}

// put writes val under key, or deletes key when val is nil; what names the share in errors.
func (w *presenceWriter) put(key string, val []byte, what string) error {
	if err := w.wait(presenceWindow - 1); err != nil {
		return err
	}
	msg := &nats.Msg{Subject: w.subj + key, Data: val}
	if val == nil {
		msg.Header = nats.Header{kvOpHeader: []string{"DEL"}}
	}
	i := len(w.what)
	w.what = append(w.what, what)
	var id uint64
	msg.Reply, id = w.p.e.acks.register(w.acks, i)
	if err := w.p.e.nc.PublishMsg(msg); err != nil {
		w.p.e.acks.cancel(id)
		return unavailable(fmt.Errorf("natsengine: presence of %s: %w", what, err))
	}
	w.ids = append(w.ids, id)
	w.inflight++
	return nil
}

// wait collects acknowledgements until at most n writes are in flight.
func (w *presenceWriter) wait(n int) error {
	for w.inflight > n {
		select {
		case r := <-w.acks:
			w.inflight--
			if err := ackError(r); err != nil {
				w.cancel()
				return unavailable(fmt.Errorf("natsengine: presence of %s: %w", w.what[r.idx], err))
			}
		case <-w.ctx.Done():
			w.cancel()
			return unavailable(fmt.Errorf("natsengine: presence write: %w", w.ctx.Err()))
		}
	}
	return nil
}

// cancel forgets the acknowledgements still awaited (late ones find no waiter).
func (w *presenceWriter) cancel() {
	for _, id := range w.ids {
		w.p.e.acks.cancel(id)
	}
	w.inflight = 0
}

// ackError returns why a KV write was not stored, or nil.
func ackError(r ackReply) error {
	ack, err := decodeAck(r)
	if err == nil && ack.Error != nil {
		return ack.Error
	}
	return err
}

// shares returns the live values of the keys "<prefix>.<node>": by direct gets of the keys of
// the nodes the node watch knows, or, while it is not up to date, by a watch of
// "<prefix>.*".
func (p *presenceStore) shares(ctx context.Context, prefix string) ([][]byte, error) {
	ctx, cancel := p.timeout(ctx)
	defer cancel()
	kv, err := p.bucket(ctx, 0)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // nobody ever wrote presence
	}
	if err != nil {
		return nil, err
	}
	nodes, ok := p.nodes.live(ctx, p.e, kv)
	if !ok {
		p.slowReads.Add(1)
		return watchValues(ctx, kv, prefix+".*")
	}
	vals := make([][]byte, len(nodes))
	errs := make([]error, len(nodes))
	parallel(len(nodes), func(i int) {
		entry, err := kv.Get(ctx, prefix+"."+nodes[i])
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			errs[i] = err
		default:
			vals[i] = entry.Value()
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, unavailable(fmt.Errorf("natsengine: presence read: %w", err))
	}
	out := vals[:0]
	for _, v := range vals {
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// watchValues returns the live values of the keys of kv matching filter, read with a watch
// (an ephemeral consumer) that ends once the initial values are in.
func watchValues(ctx context.Context, kv jetstream.KeyValue, filter string) ([][]byte, error) {
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
// watch as complete (see watchValues).
const presenceQuiet = 500 * time.Millisecond

// TopicPresence sums the live shares of topic.
func (p *presenceStore) TopicPresence(ctx context.Context, topic herald.Topic) (herald.TopicPresence, error) {
	tp := herald.TopicPresence{Users: map[string]int{}}
	vals, err := p.shares(ctx, "t."+b64(string(topic)))
	if err != nil {
		return tp, err
	}
	for _, v := range vals {
		if err := presenceshare.AddTopic(&tp, v); err != nil {
			return tp, fmt.Errorf("natsengine: presence of %q: %w", topic, err)
		}
	}
	return tp, nil
}

// UserPresence sums the live shares of user.
func (p *presenceStore) UserPresence(ctx context.Context, user string) (int, error) {
	vals, err := p.shares(ctx, "u."+b64(user))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range vals {
		n, err := presenceshare.ParseUser(v)
		if err != nil {
			return 0, fmt.Errorf("natsengine: presence of user %q: %w", user, err)
		}
		total += n
	}
	return total, nil
}

// nodeWatch is a node's view of which nodes wrote presence lately: one watch of the "n.*"
// keys for the engine's lifetime, started by the first read.
type nodeWatch struct {
	mu     sync.Mutex
	ready  chan struct{}        // nil until the watch starts; closed once it delivered the markers stored then
	seen   map[string]time.Time // node → when its marker was last received
	forget time.Duration
}

// nodeWatchWait is how long a read waits for a starting node watch before it reads the slow
// way (a watch usually delivers its initial markers within a round trip or two).
const nodeWatchWait = 100 * time.Millisecond

// nodeForgetTTLs is, in bucket TTLs, how long a node's marker may go unwritten before reads
// stop asking its keys (its shares have long expired by then). A cluster whose nodes all
// stopped writing for that long is read the slow way until one writes again.
const nodeForgetTTLs = 4

// live returns the nodes to ask and true, or false when the watch is not up to date.
func (w *nodeWatch) live(ctx context.Context, e *Engine, kv jetstream.KeyValue) ([]string, bool) {
	w.mu.Lock()
	if w.ready == nil {
		st, err := kv.Status(ctx)
		if err != nil {
			w.mu.Unlock()
			return nil, false
		}
		e.mu.Lock() // Close waits for e.done: never add to it once closed
		if e.closed {
			e.mu.Unlock()
			w.mu.Unlock()
			return nil, false
		}
		e.done.Add(1)
		e.mu.Unlock()
		w.ready = make(chan struct{})
		w.seen = make(map[string]time.Time)
		w.forget = max(nodeForgetTTLs*st.TTL(), 30*time.Second)
		go w.run(e, kv)
	}
	ready := w.ready
	w.mu.Unlock()
	select {
	case <-ready:
	case <-time.After(nodeWatchWait):
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	nodes := make([]string, 0, len(w.seen))
	for n, at := range w.seen {
		if now.Sub(at) > w.forget {
			delete(w.seen, n)
			continue
		}
		nodes = append(nodes, n)
	}
	// No node wrote for so long: read the slow way (see nodeForgetTTLs).
	return nodes, len(nodes) > 0
}

// run keeps the watch of "n.*" open until the engine closes, opening it again when it ends.
func (w *nodeWatch) run(e *Engine, kv jetstream.KeyValue) {
	defer e.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		watch, err := kv.Watch(ctx, "n.*", jetstream.IgnoreDeletes())
		if err == nil {
			w.follow(ctx, watch)
			_ = watch.Stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// follow records the markers one watch delivers until it ends.
func (w *nodeWatch) follow(ctx context.Context, watch jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case entry, ok := <-watch.Updates():
			if !ok {
				return
			}
			w.mu.Lock()
			if entry == nil {
				select {
				case <-w.ready:
				default:
					close(w.ready)
				}
			} else if node, found := strings.CutPrefix(entry.Key(), "n."); found {
				w.seen[node] = time.Now()
			}
			w.mu.Unlock()
		}
	}
}

// timeout bounds ctx by DefaultTimeout when it has no deadline.
func (p *presenceStore) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
