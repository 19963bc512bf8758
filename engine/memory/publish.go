package memory

import (
	"context"
	"fmt"
	"math"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/epoch"
)

// Publish appends msgs in order and returns their events. Each message's Data is copied
// (callers may reuse their buffers); the copies of a batch share one allocation. A message
// whose DedupKey its topic has seen within the dedup window and TTL returns the earlier event
// and appends nothing. A message to a closed topic stops the batch with a
// *herald.PublishError wrapping herald.ErrTopicClosed; the events before it are returned and
// stay published.
//
// The returned events' Data is shared with the engine's history and must not be modified.
func (e *Engine) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if err := e.check(ctx, "publish"); err != nil {
		return nil, err
	}
	size := 0
	for i := range msgs {
		size += len(msgs[i].Data)
	}
	var data []byte
	if size > 0 {
		data = make([]byte, size)
	}
	out := make([]herald.Event, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		var d []byte
		if n := len(m.Data); n > 0 {
			d = data[:n:n] // capped so an append by a reader cannot reach the next event's data
			copy(d, m.Data)
			data = data[n:]
		}
		if err := e.publishOne(m, d, &out[i]); err != nil {
			return out[:i], &herald.PublishError{Published: i, Err: err}
		}
	}
	return out, nil
}

// publishOne appends one message whose data was already copied into data, writes its event
// to *out and, if the topic is subscribed, hands it to the sink under the shard lock.
func (e *Engine) publishOne(m *herald.Message, data []byte, out *herald.Event) error {
	if m.Topic == "" {
		return fmt.Errorf("memory: publish: %w: empty", herald.ErrInvalidTopic)
	}
	s := e.shardFor(m.Topic)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := e.now().UnixNano()
	t := e.lookupLocked(s, m.Topic, now)
	if t == nil {
		t = e.newTopic(m.Topic)
		s.topics[m.Topic] = t
	}
	if m.DedupKey != "" {
		if ev, ok := t.dedup.lookup(m.DedupKey, t.cutoff(now)); ok {
			*out = ev // delivered when it was first published
			return nil
		}
	}
	if t.closed {
		return fmt.Errorf("memory: publish to %q: %w", m.Topic, herald.ErrTopicClosed)
	}
	if t.last == math.MaxUint64 {
		return fmt.Errorf("memory: publish to %q: sequence numbers exhausted", m.Topic)
	}
	if t.epoch == "" {
		t.epoch = epoch.New()
	}
	t.last++
	*out = herald.Event{
		Topic:    t.name,
		Position: herald.Position{Epoch: t.epoch, Seq: t.last},
		Prev:     t.last - 1,
		Name:     m.Name,
		Data:     data,
		Final:    m.Final,
		Time:     now,
		SentTime: m.SentTime,
	}
	t.events.push(*out, int(t.size))
	t.closed = m.Final
	if m.DedupKey != "" {
		if t.dedup == nil {
			t.dedup = &dedup{}
		}
		t.dedup.add(m.DedupKey, *out, e.dedupWindow)
	}
	if s.subscribedLocked(m.Topic) {
		if sink := e.sink.Load(); sink != nil {
			(*sink).Deliver(out)
		}
	}
	return nil
}
