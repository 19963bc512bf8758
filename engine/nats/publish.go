package natsengine

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/epoch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message headers. The Nats-* ones are JetStream's; Herald's own carries the fields of an
// Event that are not its data.
// The Herald one, hdrMeta, is in meta.go.
const (
	hdrExpected = jetstream.ExpectedLastSubjSeqHeader
	hdrMsgID    = jetstream.MsgIDHeader
	hdrSeq      = jetstream.SequenceHeader // on republished messages: stream sequence
	hdrLastSeq  = "Nats-Last-Sequence"     // on republished messages: subject's previous
	hdrSubject  = jetstream.SubjectHeader  // on republished messages: stored subject
)

// errWrongLastSeq is JetStream's error code for a failed Nats-Expected-Last-Subject-Sequence
// check (JSStreamWrongLastSequenceErrF).
const errWrongLastSeq jetstream.ErrorCode = 10071

// maxPublishAttempts bounds the optimistic-concurrency retries of one message: each retry
// means another node published to the same topic in between.
const maxPublishAttempts = 32

// Publish appends msgs in order. Each message is stored with
// Nats-Expected-Last-Subject-Sequence set to the topic's head as this node last saw it, so
// the append happens only if no other event (in particular no final one) came in between;
// on a mismatch the engine rereads the head and tries again. The event's Seq is the stream
// sequence JetStream assigned and its Prev the expected sequence JetStream checked.
//
// A batch is pipelined (see batch.go): the first message of every topic is sent at once and
// each later message of a topic as soon as the one before it is acknowledged, so a batch of
// k topics costs about one round trip per message of its busiest topic instead of one per
// message.
func (e *Engine) Publish(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	if e.isClosed() {
		return nil, &herald.PublishError{Published: 0, Err: herald.ErrClosed}
	}
	return e.publishBatch(ctx, msgs)
}

// publishLocked stores it's message with the sequential path: one JetStream request at a
// time, rereading the head on an expected-sequence mismatch and recreating a lost stream.
// The caller holds the topic's head stripe. It is the fallback of the pipeline for a topic
// whose pipelined send was refused (another node appended, the stream is gone, a duplicate).
func (e *Engine) publishLocked(ctx context.Context, stripe *headStripe, it *pubItem) (herald.Event, error) {
	m, s, msg := it.m, it.s, &it.msg
	msg.Reply = ""
	var err error
	for attempt := 0; attempt < maxPublishAttempts; attempt++ {
		hd, ok := stripe.getLocked(m.Topic, s)
		if !ok {
			if hd, err = e.readHead(ctx, s, it.key); err != nil {
				return herald.Event{}, err
			}
			stripe.setLocked(m.Topic, hd)
		}
		if hd.closed {
			return herald.Event{}, fmt.Errorf("natsengine: publish to %q: %w", m.Topic, herald.ErrTopicClosed)
		}
		if hd.seq == 0 {
			// The topic's first event (or first after its history expired or was lost)
			// starts a new epoch.
			hd.epoch = epoch.New()
		}
		it.setHead(hd)
		ack, err := e.js.PublishMsg(ctx, msg)
		var apiErr *jetstream.APIError
		switch {
		case err == nil && ack.Duplicate:
			// An earlier publish with this DedupKey is stored: answer its event.
			stripe.dropLocked(m.Topic)
			return e.readEvent(ctx, s, m.Topic, ack.Sequence)
		case err == nil:
			stripe.setLocked(m.Topic, head{stream: s, created: hd.created, epoch: hd.epoch, seq: ack.Sequence, closed: m.Final})
			return it.event(hd, ack.Sequence), nil
		case errors.As(err, &apiErr) && apiErr.ErrorCode == errWrongLastSeq:
			// Another node appended to the topic (or its history expired): reread the head.
			stripe.dropLocked(m.Topic)
		case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
			// The stream is gone (deleted, or lost by a restarted server): recreate it.
			stripe.dropLocked(m.Topic)
			if err := e.ensure(ctx, s); err != nil {
				return herald.Event{}, err
			}
		default:
			// The outcome is unknown (a timeout may hide a stored message): forget the head.
			stripe.dropLocked(m.Topic)
			return herald.Event{}, publishError(m.Topic, err)
		}
	}
	return herald.Event{}, unavailable(fmt.Errorf("natsengine: publish to %q: still contended after %d attempts", m.Topic, maxPublishAttempts))
}

// publishError classifies a failed JetStream publish: everything but an oversized message
// means NATS or JetStream cannot take it now.
func publishError(t herald.Topic, err error) error {
	err = fmt.Errorf("natsengine: publish to %q: %w", t, err)
	if errors.Is(err, nats.ErrMaxPayload) {
		return err
	}
	return unavailable(err)
}

// readHead reads the last stored message of a topic's subject: its sequence, epoch and
// whether it was final.
func (e *Engine) readHead(ctx context.Context, s *stream, key string) (head, error) {
	created, _ := s.current()
	hd := head{stream: s, created: created}
	raw, err := e.lastMsg(ctx, s, key)
	if err != nil || raw == nil {
		return hd, err
	}
	md, _ := parseMeta(raw.Header.Get(hdrMeta))
	hd.seq, hd.epoch, hd.closed = raw.Sequence, md.epoch, md.final
	return hd, nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}
