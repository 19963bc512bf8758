package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
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
// On Redis Cluster a PUBLISH reaches the node holding this engine's Pub/Sub connection over
// the cluster bus, so an event published just before the subscription may still arrive after
// it; it is delivered like any other, and the hub drops it as one it has seen (hub/stitch.go).
// An earlier version held a topic's events until the head was read after the confirmation and
// dropped those at or below it: one more round trip per Subscribe for what the hub does anyway.
func (e *Engine) Subscribe(ctx context.Context, topic herald.Topic) error {
	e.mu.Lock()
	e.subs[string(topic)] = struct{}{}
	e.mu.Unlock()
	return e.subscribe(ctx, topicKeys(e.prefix, string(topic)).channel, false) // the interest stays on error (see above)
}

// admitLocked reports whether the reader should deliver ev: not when its topic is not
// subscribed (an event that overtook UNSUBSCRIBE).
func (e *Engine) admitLocked(ev *herald.Event) bool {
	_, ok := e.subs[string(ev.Topic)]
	return ok
}

// Unsubscribe stops live delivery of topic to this node.
func (e *Engine) Unsubscribe(ctx context.Context, topic herald.Topic) error {
	if e.closed.Load() {
		return herald.ErrClosed
	}
	e.mu.Lock()
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
