package natsengine

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/heraldpush/herald"
	"github.com/nats-io/nats.go"
)

// Subscribe makes this node receive topic's live events: a core NATS subscription on the
// topic's live subject, to which its stream republishes every stored message (so the feed
// carries only events that are in history). It returns after a round trip to the server, so
// the server knows the interest before Subscribe returns. The subscription shares a feed
// channel and its dispatcher with other topics (feed.go); a topic's events are delivered in
// the order the stream stored them.
//
// On a NATS cluster, interest reaches the other servers asynchronously over routes; an event
// stored by a stream leader on another server in the first moments after Subscribe may miss
// this node. The hub sees the hole in the Prev chain at the next event, and reads it from
// history.
func (e *Engine) Subscribe(ctx context.Context, topic herald.Topic) error {
	if e.isClosed() {
		return herald.ErrClosed
	}
	if _, err := herald.ParseTopic(string(topic)); err != nil {
		return err
	}
	s, err := e.streamFor(ctx, topic)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return herald.ErrClosed
	}
	if e.sink == nil {
		e.mu.Unlock()
		return fmt.Errorf("natsengine: Subscribe before Start")
	}
	if _, ok := e.subs[topic]; ok {
		e.mu.Unlock()
		return nil
	}
	lt := newLiveTopic(topic, e.sink)
	subject := s.live + topicKey(topic)
	e.live.Store(subject, lt) // before the first message can arrive
	sub, err := e.nc.ChanSubscribe(subject, e.feeds.chanFor(subject))
	if err != nil {
		e.live.CompareAndDelete(subject, lt)
		e.mu.Unlock()
		return unavailable(fmt.Errorf("natsengine: subscribe %q: %w", topic, err))
	}
	e.subs[topic] = liveSub{sub: sub, lt: lt}
	e.mu.Unlock()
	if err := e.flush(ctx); err != nil {
		return unavailable(fmt.Errorf("natsengine: subscribe %q: %w", topic, err))
	}
	return nil
}

// Unsubscribe removes this node's interest in topic's live events.
func (e *Engine) Unsubscribe(_ context.Context, topic herald.Topic) error {
	e.mu.Lock()
	ls, ok := e.subs[topic]
	delete(e.subs, topic)
	e.mu.Unlock()
	if !ok {
		return nil
	}
	ls.lt.stop()
	err := ls.sub.Unsubscribe()
	e.live.CompareAndDelete(ls.sub.Subject, ls.lt)
	if err != nil && err != nats.ErrConnectionClosed {
		return fmt.Errorf("natsengine: unsubscribe %q: %w", topic, err)
	}
	return nil
}

// liveSub is one subscribed topic.
type liveSub struct {
	sub *nats.Subscription
	lt  *liveTopic
}

// liveTopic is a subscribed topic as its feed dispatcher sees it.
//
// nats-server 2.9 republishes messages stored concurrently from several connections in a
// slightly different order than it stored them, so a node may receive a topic's events out of
// order. The engine passes them on as they come: the hub holds an event that arrives before
// its predecessor and splices it back in by Prev (hub/stitch.go), reading the missing one from
// history at once rather than waiting for it. (An earlier reorder stage here waited up to
// 200 ms for the predecessor before letting the hub read history.)
type liveTopic struct {
	topic   herald.Topic
	sink    herald.Sink
	stopped atomic.Bool // Unsubscribe or Close: no delivery after it
}

func newLiveTopic(topic herald.Topic, sink herald.Sink) *liveTopic {
	return &liveTopic{topic: topic, sink: sink}
}

func (l *liveTopic) stop() { l.stopped.Store(true) }

// deliver hands one republished message to the sink. Its Seq is the stream
// sequence the republish carries in Nats-Sequence; its Prev is the meta header's prev, the
// sequence JetStream checked as the subject's last when it stored the message
// (Nats-Last-Sequence, the same value, for messages stored by something else).
func (e *Engine) deliver(lt *liveTopic, m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
	if err != nil {
		e.log.Warn("natsengine: live message without stream sequence", "subject", m.Subject)
		return
	}
	ev, ok := eventOf(lt.topic, seq, m.Data, m.Header)
	if v := m.Header.Get(hdrLastSeq); !ok && v != "" {
		if prev, err := strconv.ParseUint(v, 10, 64); err == nil {
			ev.Prev = prev
		}
	}
	if !lt.stopped.Load() {
		lt.sink.Deliver(&ev)
	}
}
