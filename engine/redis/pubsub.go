package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// Subscribe subscribes the topic's channel on the node's Pub/Sub connection and returns
// once Redis confirmed it. When Redis is unreachable it returns an error wrapping
// herald.ErrEngineUnavailable, but the interest is kept (as on any error): the engine
// subscribes the topic when the connection comes back and then calls Sink.Resync; call
// Unsubscribe to drop it.
//
// Subscribe delivers only events published after it: on Redis Cluster a PUBLISH reaches the
// node holding this engine's Pub/Sub connection over the cluster bus, so events published
// just before the subscription may still arrive after it. Live events of the topic are held
// until the confirmation and the topic's head (read after it) are known, and those at or
// below that head are dropped; the hub reads them from history anyway.
func (e *Engine) Subscribe(ctx context.Context, topic herald.Topic) error {
	k := topicKeys(e.prefix, string(topic))
	g := &gate{}
	e.mu.Lock()
	e.gates[string(topic)] = g
	e.subs[string(topic)] = struct{}{}
	e.mu.Unlock()
	err := e.subscribe(ctx, k.channel, false)
	var head herald.Position
	if err == nil {
		var v []any
		v, err = e.rdb.HMGet(ctx, k.meta, "epoch", "last").Result()
		if err != nil {
			err = e.wrap("subscribe", err)
		} else {
			head.Epoch, _ = v[0].(string)
			last, _ := v[1].(string)
			head.Seq, _ = strconv.ParseUint(last, 10, 64)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gates[string(topic)] == g {
		delete(e.gates, string(topic))
	}
	if err != nil {
		return err // the interest stays (see above) until Unsubscribe
	}
	// The reader is blocked on e.mu if it has more events of this topic, so these calls
	// keep the topic's order and never run concurrently with its own.
	for i := range g.held {
		if ev := &g.held[i]; ev.Epoch != head.Epoch || ev.Seq > head.Seq {
			e.sink.Deliver(ev)
		}
	}
	if head.Seq > 0 {
		e.after[string(topic)] = head
	}
	return nil
}

// gate holds a topic's live events while its Subscribe completes.
type gate struct {
	held []herald.Event
}

// admitLocked reports whether the reader should deliver ev now: not when its topic is not
// subscribed (an event that overtook UNSUBSCRIBE), not while its topic's Subscribe is in
// progress (the event is held) and not when it precedes the head read by Subscribe.
func (e *Engine) admitLocked(ev *herald.Event) bool {
	t := string(ev.Topic)
	if _, ok := e.subs[t]; !ok {
		return false
	}
	if g := e.gates[t]; g != nil {
		c := *ev
		c.Data = append([]byte(nil), ev.Data...)
		g.held = append(g.held, c)
		return false
	}
	if head, ok := e.after[t]; ok {
		if ev.Epoch == head.Epoch && ev.Seq <= head.Seq {
			return false
		}
		delete(e.after, t)
	}
	return true
}

// Unsubscribe stops live delivery of topic to this node.
func (e *Engine) Unsubscribe(ctx context.Context, topic herald.Topic) error {
	if e.closed.Load() {
		return herald.ErrClosed
	}
	e.mu.Lock()
	delete(e.after, string(topic))
	delete(e.subs, string(topic))
	e.mu.Unlock()
	if err := e.ps.Unsubscribe(ctx, topicKeys(e.prefix, string(topic)).channel); err != nil {
		return e.wrap("unsubscribe", err)
	}
	return nil
}

// subscribe (p)subscribes name and waits for Redis's confirmation.
func (e *Engine) subscribe(ctx context.Context, name string, pattern bool) error {
	if e.closed.Load() {
		return herald.ErrClosed
	}
	if e.ps == nil {
		return errors.New("redis engine: Subscribe before Start")
	}
	done := make(chan struct{})
	e.mu.Lock()
	e.waiters[name] = append(e.waiters[name], done)
	lost := e.lost
	e.mu.Unlock()
	var err error
	if pattern {
		err = e.ps.PSubscribe(ctx, name)
	} else {
		err = e.ps.Subscribe(ctx, name)
	}
	if err != nil {
		return e.wrap("subscribe", err)
	}
	select {
	case <-done:
		return nil
	case <-lost:
		return fmt.Errorf("redis engine: subscribe: %w: connection lost", herald.ErrEngineUnavailable)
	case <-ctx.Done():
		return e.wrap("subscribe", ctx.Err())
	}
}

// confirmed wakes the Subscribe calls waiting for name.
func (e *Engine) confirmed(name string) {
	e.mu.Lock()
	ws := e.waiters[name]
	delete(e.waiters, name)
	e.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// readLoop is the only reader of the Pub/Sub connection: it delivers live events in order,
// hands bridged messages to the bridge, confirms subscriptions, and after a lost connection
// calls Sink.Resync once go-redis has reconnected and resubscribed.
func (e *Engine) readLoop(ctx context.Context) {
	var (
		down    bool
		backoff time.Duration
		pinged  bool
		ev      herald.Event
	)
	for ctx.Err() == nil {
		msg, err := e.ps.ReceiveTimeout(ctx, e.health)
		if err != nil {
			if ctx.Err() != nil || e.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				// Quiet connection: PING it; a broken one fails the write or the next read.
				pinged = true
				if perr := e.ps.Ping(ctx); perr == nil {
					continue
				}
			}
			pinged = false
			if !down {
				down = true
				e.log.Warn("redis pub/sub connection lost; reconnecting", "err", err)
				e.mu.Lock()
				close(e.lost)
				e.mu.Unlock()
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		pinged = false
		if down {
			// go-redis resubscribed every channel and pattern in one command before this
			// reply, so every later publish reaches us: let the hub fill the gap.
			down, backoff = false, 0
			e.mu.Lock()
			e.lost = make(chan struct{})
			e.mu.Unlock()
			e.log.Info("redis pub/sub connection restored; resyncing")
			e.sink.Resync()
		}
		switch m := msg.(type) {
		case *goredis.Message:
			if m.Pattern != "" {
				e.bridgeMessage(ctx, m)
				continue
			}
			topic, ok := channelTopic(e.prefix, m.Channel)
			if !ok {
				continue
			}
			if err := decodeEvent(herald.Topic(topic), []byte(m.Payload), &ev); err != nil {
				e.log.Error("dropping undecodable live event", "channel", m.Channel, "err", err)
				continue
			}
			e.mu.Lock()
			ok = e.admitLocked(&ev)
			if ok {
				e.sink.Deliver(&ev)
			}
			e.mu.Unlock()
		case *goredis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "psubscribe" {
				e.confirmed(m.Channel)
			}
		}
	}
}
