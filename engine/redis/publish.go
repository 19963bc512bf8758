package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/epoch"
)

// Publish appends msgs in order and returns their events. Each run of consecutive messages
// of one topic is one atomic script call; on error, the returned PublishError counts the
// messages published before it.
func (e *Engine) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if e.closed.Load() {
		return nil, herald.ErrClosed
	}
	events := make([]herald.Event, 0, len(msgs))
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Topic == msgs[i].Topic {
			j++
		}
		var err error
		events, err = e.publishRun(ctx, msgs[i:j], events, nil)
		if err != nil {
			return events, &herald.PublishError{Published: len(events), Err: err}
		}
		i = j
	}
	return events, nil
}

// publishRun publishes msgs, all of one topic, appending their events to events and, when
// online is not nil, whether each reached a Pub/Sub receiver to *online (see PublishOnline).
func (e *Engine) publishRun(ctx context.Context, msgs []herald.Message, events []herald.Event, online *[]bool) ([]herald.Event, error) {
	topic := msgs[0].Topic
	// The returned events must not alias the caller's buffers: copy all data at once.
	size := 0
	for i := range msgs {
		size += len(msgs[i].Data)
	}
	buf := make([]byte, 0, size)
	k := topicKeys(e.prefix, string(topic))
	r := e.ret(topic)
	args := make([]any, 0, 6+5*len(msgs))
	args = append(args, epoch.New(), r.Size, ttlMillis(r.TTL), e.window, k.channel, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		final := "0"
		if m.Final {
			final = "1"
		}
		args = append(args, string(m.Name), m.Data, final, strconv.FormatInt(m.SentTime, 10), m.DedupKey)
	}
	res, err := publishScript.Run(ctx, e.rdb, []string{k.meta, k.hist, k.dedup}, args...).Slice()
	if err != nil {
		return events, e.wrap("publish", err)
	}
	if len(res) != 2 {
		return events, fmt.Errorf("redis engine: publish: unexpected reply %v", res)
	}
	epoch, _ := res[0].(string)
	results, _ := res[1].([]any)
	for i, r := range results {
		row, _ := r.([]any)
		if len(row) == 0 {
			return events, fmt.Errorf("redis engine: publish: unexpected reply %v", res)
		}
		m := &msgs[i]
		data := buf[len(buf):len(buf):cap(buf)]
		data = append(data, m.Data...)
		buf = buf[:len(buf)+len(data)]
		switch row[0] {
		case "closed":
			return events, fmt.Errorf("redis engine: publish to %q: %w", topic, herald.ErrTopicClosed)
		case "dup":
			seq, _ := row[1].(int64)
			ev := herald.Event{
				Topic: topic, Position: herald.Position{Epoch: epoch, Seq: uint64(seq)}, Prev: uint64(seq) - 1,
				Name: m.Name, Data: data, Final: m.Final, SentTime: m.SentTime,
			}
			if stored, ok := row[2].(string); ok {
				if err := decodeEvent(topic, []byte(stored), &ev); err != nil {
					return events, fmt.Errorf("redis engine: publish: %w", err)
				}
			}
			events = append(events, ev)
			if online != nil {
				*online = append(*online, false) // not published again: nobody heard it now
			}
		case "ok":
			seq, _ := row[1].(int64)
			ns, _ := row[2].(string)
			tm, _ := strconv.ParseInt(ns, 10, 64)
			events = append(events, herald.Event{
				Topic: topic, Position: herald.Position{Epoch: epoch, Seq: uint64(seq)}, Prev: uint64(seq) - 1,
				Name: m.Name, Data: data, Final: m.Final, Time: tm, SentTime: m.SentTime,
			})
			if online != nil {
				heard, _ := row[3].(int64)
				*online = append(*online, heard > 0)
			}
		default:
			return events, fmt.Errorf("redis engine: publish: unexpected reply %v", row)
		}
	}
	return events, nil
}

// History returns up to limit retained events of topic with Seq > after, oldest first, with
// the topic's state read in the same atomic script. A limit <= 0 reads the state only.
func (e *Engine) History(ctx context.Context, topic herald.Topic, after uint64, limit int) (herald.History, error) {
	if e.closed.Load() {
		return herald.History{}, herald.ErrClosed
	}
	k := topicKeys(e.prefix, string(topic))
	if limit < 0 {
		limit = 0
	}
	res, err := historyScript.Run(ctx, e.rdb, []string{k.meta, k.hist},
		strconv.FormatUint(after, 10), limit, ttlMillis(e.ret(topic).TTL)).Slice()
	if err != nil {
		return herald.History{}, e.wrap("history", err)
	}
	if len(res) != 5 {
		return herald.History{}, fmt.Errorf("redis engine: history: unexpected reply %v", res)
	}
	var h herald.History
	epoch, _ := res[0].(string)
	if epoch == "" {
		return h, nil // no topic (never published, expired or flushed)
	}
	last, _ := res[1].(int64)
	closed, _ := res[2].(int64)
	first, _ := res[3].(int64)
	h.State = herald.TopicState{Epoch: epoch, First: uint64(first), Last: uint64(last), Closed: closed == 1}
	raw, _ := res[4].([]any)
	if len(raw) > 0 {
		h.Events = make([]herald.Event, 0, len(raw))
	}
	for _, r := range raw {
		s, _ := r.(string)
		var ev herald.Event
		if err := decodeEvent(topic, []byte(s), &ev); err != nil {
			return herald.History{}, fmt.Errorf("redis engine: history of %q: %w", topic, err)
		}
		if ev.Epoch != epoch {
			continue // left over from a lost epoch; the publish script deletes these
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}
