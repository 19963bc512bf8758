package natsengine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald"
	"github.com/nats-io/nats.go/jetstream"
)

// History reads topic's retained events after seq after. It reads the subject's last message
// (TopicState.Last and Closed) and first retained message (TopicState.First), then walks the
// subject's messages after `after` up to Last with JetStream's next-by-subject message get —
// one request per event, as nats-server 2.9 has no batched direct get — for the first
// historyDirectGets events, and reads the rest in one batch through a short-lived consumer
// (readRange). A topic with no retained message has the zero TopicState: its epoch is
// forgotten, and its next event will have Prev 0.
func (e *Engine) History(ctx context.Context, topic herald.Topic, after uint64, limit int) (herald.History, error) {
	if e.isClosed() {
		return herald.History{}, herald.ErrClosed
	}
	if _, err := herald.ParseTopic(string(topic)); err != nil {
		return herald.History{}, err
	}
	s, err := e.streamFor(ctx, topic)
	if err != nil {
		return herald.History{}, err
	}
	key := topicKey(topic)
	created, _ := s.current()
	last, err := e.lastMsg(ctx, s, key)
	if err != nil {
		return herald.History{}, err
	}
	if last == nil {
		e.heads.prime(topic, head{stream: s, created: created})
		return herald.History{}, nil
	}
	md, _ := parseMeta(last.Header.Get(hdrMeta))
	epoch := md.epoch
	e.heads.prime(topic, head{stream: s, created: created, seq: last.Sequence, epoch: epoch, closed: md.final})
	var h herald.History
	h.State = herald.TopicState{Epoch: epoch, Last: last.Sequence, Closed: md.final}
	first, err := e.nextMsg(ctx, s, key, 1)
	if err != nil {
		return herald.History{}, err
	}
	if first == nil { // expired between the two reads
		return herald.History{}, nil
	}
	h.State.First = first.Sequence
	next := after + 1
	if first.Sequence >= next {
		next = first.Sequence
	}
	for len(h.Events) < limit && next <= h.State.Last {
		if len(h.Events) == historyDirectGets {
			evs, err := e.readRange(ctx, s, topic, key, next, h.State.Last, limit-len(h.Events))
			if err != nil {
				return herald.History{}, err
			}
			h.Events = append(h.Events, evs...)
			break
		}
		var raw *jetstream.RawStreamMsg
		if next == first.Sequence {
			raw = first
		} else if raw, err = e.nextMsg(ctx, s, key, next); err != nil {
			return herald.History{}, err
		}
		if raw == nil || raw.Sequence > h.State.Last {
			break
		}
		ev, _ := eventOf(topic, raw.Sequence, raw.Data, raw.Header)
		h.Events = append(h.Events, ev)
		next = raw.Sequence + 1
	}
	return h, nil
}

// historyDirectGets is how many events History reads one request each before it reads the
// rest through a consumer: a resuming client usually missed a few events (a direct get is
// one round trip), a client back after a longer drop or a node refilling a busy topic many
// (a consumer costs about three round trips for any number: create, fetch, delete).
const historyDirectGets = 3

// readRange reads up to limit events of topic with stream sequences from..last through an
// ephemeral pull consumer filtered on the topic's subject, in one fetch. Events found missing
// later (expired meanwhile) are simply not returned: History's caller follows the Prev chain.
func (e *Engine) readRange(ctx context.Context, s *stream, topic herald.Topic, key string, from, last uint64, limit int) ([]herald.Event, error) {
	_, h := s.current()
	cons, err := h.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     s.hist + key,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: historyConsumerIdle,
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, nil
		}
		return nil, unavailable(fmt.Errorf("natsengine: read %s of %s: %w", topic, s.name, err))
	}
	name := cons.CachedInfo().Name
	defer func() {
		// Best effort: a consumer left behind goes away after historyConsumerIdle.
		dctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		_ = h.DeleteConsumer(dctx, name)
		cancel()
	}()
	n := min(uint64(limit), cons.CachedInfo().NumPending, last-from+1)
	if n == 0 {
		return nil, nil
	}
	batch, err := cons.FetchNoWait(int(n))
	if err != nil {
		return nil, unavailable(fmt.Errorf("natsengine: read %s of %s: %w", topic, s.name, err))
	}
	evs := make([]herald.Event, 0, n)
	for msg := range batch.Messages() {
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		if seq := md.Sequence.Stream; seq <= last && len(evs) < limit {
			ev, _ := eventOf(topic, seq, msg.Data(), msg.Headers())
			evs = append(evs, ev)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		return nil, unavailable(fmt.Errorf("natsengine: read %s of %s: %w", topic, s.name, err))
	}
	return evs, nil
}

// historyConsumerIdle is how soon nats-server removes a history consumer that History did
// not delete (its node died mid-read).
const historyConsumerIdle = 30 * time.Second

// lastMsg returns the last stored message of a topic key, or nil when it has none.
func (e *Engine) lastMsg(ctx context.Context, s *stream, key string) (*jetstream.RawStreamMsg, error) {
	_, h := s.current()
	raw, err := h.GetLastMsgForSubject(ctx, s.hist+key)
	return msgResult(s, raw, err)
}

// nextMsg returns the first stored message of a topic key with sequence >= seq, or nil.
func (e *Engine) nextMsg(ctx context.Context, s *stream, key string, seq uint64) (*jetstream.RawStreamMsg, error) {
	_, h := s.current()
	raw, err := h.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(s.hist+key))
	return msgResult(s, raw, err)
}

func msgResult(s *stream, raw *jetstream.RawStreamMsg, err error) (*jetstream.RawStreamMsg, error) {
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
		// No message, or no stream at all (deleted): the topic has no history.
		return nil, nil
	case err != nil:
		return nil, unavailable(fmt.Errorf("natsengine: read stream %s: %w", s.name, err))
	}
	return raw, nil
}

// readEvent reads the stored event at seq (the original of a deduplicated publish).
func (e *Engine) readEvent(ctx context.Context, s *stream, topic herald.Topic, seq uint64) (herald.Event, error) {
	_, h := s.current()
	raw, err := h.GetMsg(ctx, seq)
	if err != nil {
		return herald.Event{}, unavailable(fmt.Errorf("natsengine: read deduplicated event %d of %s: %w", seq, s.name, err))
	}
	ev, _ := eventOf(topic, raw.Sequence, raw.Data, raw.Header)
	return ev, nil
}

// headerGetter is nats.Header's Get; both stored and republished messages have one.
type headerGetter interface{ Get(string) string }

// eventOf builds the Event of a stored message from its meta header; ok is false when the
// message has none (something other than Herald stored it).
func eventOf(topic herald.Topic, seq uint64, data []byte, h headerGetter) (ev herald.Event, ok bool) {
	md, ok := parseMeta(h.Get(hdrMeta))
	return herald.Event{
		Topic:    topic,
		Position: herald.Position{Epoch: md.epoch, Seq: seq},
		Prev:     md.prev,
		Name:     md.name,
		Data:     data,
		Final:    md.final,
		Time:     md.time,
		SentTime: md.sent,
	}, ok
}
