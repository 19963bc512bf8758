package natsengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/epoch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Pipelined batch publish.
//
// Messages of different topics do not depend on each other, so a batch sends the first
// message of every topic at once, each with its own Nats-Expected-Last-Subject-Sequence from
// the head cache and a reply subject in the engine's shared inbox (acks.go), then collects
// the acknowledgements. Messages of one topic stay chained: the next is sent only once the
// previous one is acknowledged, because its expected sequence is the stream sequence
// JetStream gave the previous one, which cannot be predicted (other topics share the
// stream). A topic whose pipelined send JetStream refuses (expected-sequence mismatch:
// another node appended; no stream; a duplicate) falls back, for that topic only, to the
// sequential path (publishLocked) that rereads the head and retries.
//
// Partial failure. The result is the batch's leading prefix of stored messages, as the
// Engine contract requires: on error, a *herald.PublishError with Published = the number of
// leading messages stored, and their events. Three rules keep "stored but reported as not
// published" (a duplicate if the caller retries) out of the common failures:
//   - Everything that can be decided before sending is decided first, in input order, and
//     nothing from the first failing message on is sent: an invalid topic, a topic closed
//     (according to the head cache or a fresh head read), a final event followed by more
//     events of its topic, a message over the server's max payload, an unreachable stream.
//   - Messages go out in input order, and as soon as a message fails no message after it is
//     sent any more (a send that fails at once, on a lost connection, stops the batch there).
//   - Every message in flight is waited for, so the head cache stays exact.
//
// What remains is a message that fails only after later messages of other topics were
// already in flight: JetStream refusing it for a reason the node could not see beforehand
// (another node closed the topic in between, the store is full), or no acknowledgement
// (timeout, connection lost). Those later messages may be stored — live and in history —
// while the batch reports only the prefix before the failure; the sequential engine had the
// same ambiguity for one message (a lost acknowledgement of a stored message). A caller that
// retries partial batches should set Message.DedupKey: the retry then answers the stored
// event instead of storing it twice.

// itemState is where a message of a batch is in the pipeline.
type itemState uint8

const (
	itemWaiting itemState = iota // not sent yet
	itemSent                     // sent, acknowledgement awaited
	itemSlow                     // refused by a pipelined send: redo on the sequential path
	itemDone                     // stored; ev is its event
	itemFailed                   // failed; err says why
)

// pubItem is one message of a batch.
type pubItem struct {
	m      *herald.Message
	s      *stream
	key    string // topic key, a suffix of msg.Subject
	stripe int    // head stripe index
	prev   int    // index of the previous message of the same topic, or -1
	next   int    // index of the next message of the same topic, or -1
	state  itemState
	ackID  uint64
	hd     head // the head the message is (to be) sent against
	data   []byte
	now    int64
	msg    nats.Msg
	// vals backs the header values, one element each, so that setting a header allocates
	// no slice.
	vals [3]string
	tail string // the head-independent end of the meta header (metaTail)
	// hdr is msg.Header, kept (emptied) when the batch goes back to the engine's pool.
	hdr nats.Header
	ev  herald.Event
	err error
}

const (
	valPrev  = iota // Nats-Expected-Last-Subject-Sequence
	valMeta         // Herald (meta.go)
	valMsgID        // Nats-Msg-Id
)

// setHead sets the headers that depend on the topic's head.
func (it *pubItem) setHead(hd head) {
	it.hd = hd
	it.vals[valPrev] = strconv.FormatUint(hd.seq, 10)
	it.vals[valMeta] = metaValue(hd.epoch, it.vals[valPrev], it.tail)
}

// event returns the event of the message stored at seq after head hd.
func (it *pubItem) event(hd head, seq uint64) herald.Event {
	m := it.m
	return herald.Event{
		Topic:    m.Topic,
		Position: herald.Position{Epoch: hd.epoch, Seq: seq},
		Prev:     hd.seq,
		Name:     m.Name,
		Data:     it.data,
		Final:    m.Final,
		Time:     it.now,
		SentTime: m.SentTime,
	}
}

// header lengths: "NATS/1.0\r\n" … "\r\n", and "Key: value\r\n" per header.
const (
	hdrFrameLen  = len("NATS/1.0\r\n") + len("\r\n")
	maxUintLen   = 20 // digits of a uint64
	maxEpochLen  = 17 // epoch.New writes 8; epochs stored by earlier versions have up to 17
	hdrFieldOver = len(": \r\n")
)

// pubAckReply is JetStream's answer to a publish.
type pubAckReply struct {
	Error     *jetstream.APIError `json:"error,omitempty"`
	Stream    string              `json:"stream"`
	Sequence  uint64              `json:"seq"`
	Duplicate bool                `json:"duplicate,omitempty"`
}

// batch is one pipelined Publish call.
type batch struct {
	e        *Engine
	ctx      context.Context
	items    []pubItem
	limit    int   // messages from limit on are not sent (any more); limit < len(items) on error
	limitErr error // the error of message limit
	acks     chan ackReply
	inflight int
}

// maxPooledBatch is the largest batch whose items the engine keeps for reuse.
const maxPooledBatch = 64

// getBatch returns an empty batch of n messages, reusing the items (and their header maps)
// of an earlier batch when it can: at 10,000 events/s they were a fifth of the engine's
// allocations.
func (e *Engine) getBatch(ctx context.Context, n int) *batch {
	b, _ := e.batches.Get().(*batch)
	if b == nil || cap(b.items) < n {
		b = &batch{items: make([]pubItem, n, max(n, 16))}
	}
	b.e, b.ctx, b.items, b.limit = e, ctx, b.items[:n], n
	return b
}

// putBatch empties b and keeps it for reuse. Nothing refers to its items any more: the
// events were copied out, nats.go encoded each message when it was sent, and late
// acknowledgements go to b.acks, which is not reused.
func (e *Engine) putBatch(b *batch) {
	if cap(b.items) > maxPooledBatch {
		return
	}
	for i := range b.items {
		h := b.items[i].hdr
		clear(h)
		b.items[i] = pubItem{hdr: h}
	}
	*b = batch{items: b.items[:0]}
	e.batches.Put(b)
}

// fail records that message i failed; nothing from i on is sent any more.
func (b *batch) fail(i int, err error) {
	it := &b.items[i]
	it.state, it.err = itemFailed, err
	if i < b.limit {
		b.limit, b.limitErr = i, err
	}
}

func (e *Engine) publishBatch(ctx context.Context, msgs []herald.Message) ([]herald.Event, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	n := len(msgs)
	b := e.getBatch(ctx, n)
	defer e.putBatch(b)
	b.prepare(msgs)
	unlock := b.lockStripes()
	defer unlock()
	b.loadHeads()
	b.acks = make(chan ackReply, n)
	for i := 0; i < b.limit; i++ {
		if b.items[i].prev < 0 {
			b.send(i)
		}
	}
	b.collect()
	b.slowPath()

	evs := make([]herald.Event, b.limit)
	for i := range evs {
		evs[i] = b.items[i].ev
	}
	if b.limit < n {
		return evs, &herald.PublishError{Published: b.limit, Err: b.limitErr}
	}
	return evs, nil
}

// prepare validates the messages in input order, stopping at the first invalid one, and
// builds their NATS messages except for the head-dependent headers.
func (b *batch) prepare(msgs []herald.Message) {
	e := b.e
	maxPayload := e.nc.MaxPayload()
	size := 0
	for i := range msgs {
		size += len(msgs[i].Data)
	}
	// The returned events must not alias the caller's buffers, which it may reuse: one
	// copy of all the data, each event's slice capped at its own end.
	arena := make([]byte, 0, size)
	now := time.Now().UnixNano()
	var byTopic map[herald.Topic]int // last index per topic, for batches too long to scan
	if n := len(msgs); n > 16 {
		byTopic = make(map[herald.Topic]int, n)
	}
	for i := range msgs {
		m, it := &msgs[i], &b.items[i]
		it.m, it.prev, it.next, it.now = m, -1, -1, now
		if _, err := herald.ParseTopic(string(m.Topic)); err != nil {
			b.fail(i, err)
			return
		}
		s, err := e.streamFor(b.ctx, m.Topic)
		if err != nil {
			b.fail(i, err)
			return
		}
		it.s = s
		if m.Data != nil {
			start := len(arena)
			arena = append(arena, m.Data...)
			it.data = arena[start:len(arena):len(arena)]
		}
		subj := s.hist + topicKey(m.Topic)
		it.key = subj[len(s.hist):]
		it.stripe = e.heads.index(m.Topic)

		h := it.hdr
		if h == nil {
			h = make(nats.Header, 3)
			it.hdr = h
		}
		it.tail = metaTail(now, m.SentTime, m.Final, m.Name)
		h[hdrExpected] = it.vals[valPrev : valPrev+1 : valPrev+1]
		h[hdrMeta] = it.vals[valMeta : valMeta+1 : valMeta+1]
		hlen := hdrFrameLen + len(hdrExpected) + maxUintLen + hdrFieldOver +
			len(hdrMeta) + maxMetaHeadLen + len(it.tail) + hdrFieldOver
		if m.DedupKey != "" {
			// JetStream's window is per stream: prefix the topic key to make it per topic.
			it.vals[valMsgID] = it.key + ":" + m.DedupKey
			h[hdrMsgID] = it.vals[valMsgID : valMsgID+1 : valMsgID+1]
			hlen += len(hdrMsgID) + len(it.vals[valMsgID]) + hdrFieldOver
		}
		it.msg = nats.Msg{Subject: subj, Data: it.data, Header: h}
		if int64(len(it.data)+hlen) > maxPayload {
			// nats.go would refuse it at send time; refuse it now, before any later
			// message is sent.
			b.fail(i, publishError(m.Topic, nats.ErrMaxPayload))
			return
		}

		// Chain the messages of one topic.
		p := -1
		if byTopic != nil {
			if j, ok := byTopic[m.Topic]; ok {
				p = j
			}
			byTopic[m.Topic] = i
		} else {
			for j := i - 1; j >= 0; j-- {
				if msgs[j].Topic == m.Topic {
					p = j
					break
				}
			}
		}
		if p >= 0 {
			it.prev, b.items[p].next = p, i
			if msgs[p].Final {
				// The topic's final event comes earlier in this batch.
				b.fail(i, fmt.Errorf("natsengine: publish to %q: %w", m.Topic, herald.ErrTopicClosed))
				return
			}
		}
	}
}

// lockStripes locks the head stripes of the messages to send, in increasing order, and
// returns the function that unlocks them.
func (b *batch) lockStripes() func() {
	var buf [16]int
	idx := buf[:0]
	for i := 0; i < b.limit; i++ {
		idx = append(idx, b.items[i].stripe)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		b.e.heads.stripes[i].mu.Lock()
	}
	return func() {
		for _, i := range idx {
			b.e.heads.stripes[i].mu.Unlock()
		}
	}
}

// loadHeads finds the head of every topic of the batch, from the cache or, for the topics
// not in it, from JetStream (those reads run concurrently), and fails the first message of a
// closed topic.
func (b *batch) loadHeads() {
	e := b.e
	var missing []int
	for i := 0; i < b.limit; i++ {
		it := &b.items[i]
		if it.prev >= 0 {
			continue
		}
		hd, ok := e.heads.stripes[it.stripe].getLocked(it.m.Topic, it.s)
		if ok {
			it.hd = hd
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		errs := make([]error, len(missing))
		parallel(len(missing), func(k int) {
			it := &b.items[missing[k]]
			it.hd, errs[k] = e.readHead(b.ctx, it.s, it.key)
		})
		for k, i := range missing {
			if errs[k] != nil {
				b.fail(i, errs[k])
				break // missing is in input order
			}
			it := &b.items[i]
			e.heads.stripes[it.stripe].setLocked(it.m.Topic, it.hd)
		}
	}
	for i := 0; i < b.limit; i++ {
		if it := &b.items[i]; it.prev < 0 && it.hd.closed {
			b.fail(i, fmt.Errorf("natsengine: publish to %q: %w", it.m.Topic, herald.ErrTopicClosed))
		}
	}
}

// send sends message i against its head it.hd, with a reply in the shared inbox.
func (b *batch) send(i int) {
	it := &b.items[i]
	hd := it.hd
	if hd.seq == 0 {
		// The topic's first event (or first after its history expired or was lost) starts
		// a new epoch.
		hd.epoch = epoch.New()
	}
	it.setHead(hd)
	it.msg.Reply, it.ackID = b.e.acks.register(b.acks, i)
	if err := b.e.nc.PublishMsg(&it.msg); err != nil {
		b.e.acks.cancel(it.ackID)
		b.fail(i, publishError(it.m.Topic, err))
		return
	}
	it.state = itemSent
	b.inflight++
}

// collect waits for every message in flight, sending each topic's next message as soon as
// the previous one is stored.
func (b *batch) collect() {
	for b.inflight > 0 {
		select {
		case r := <-b.acks:
			b.inflight--
			b.acked(r)
		case <-b.ctx.Done():
			// No answer in time: the outcome of every message in flight is unknown.
			for i := range b.items {
				if it := &b.items[i]; it.state == itemSent {
					b.e.acks.cancel(it.ackID)
					b.e.heads.stripes[it.stripe].dropLocked(it.m.Topic)
					b.fail(i, publishError(it.m.Topic, b.ctx.Err()))
				}
			}
			b.inflight = 0
			// Acknowledgements that raced the cancel are left in b.acks (it has room).
		}
	}
}

// acked handles the acknowledgement (or its loss) of a sent message.
func (b *batch) acked(r ackReply) {
	it := &b.items[r.idx]
	if it.state != itemSent {
		return // cancelled after a timeout
	}
	stripe := &b.e.heads.stripes[it.stripe]
	ack, err := decodeAck(r)
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		// No stream captures the subject (deleted, or lost by a restarted server). Nothing
		// was stored; the sequential path recreates the stream.
		stripe.dropLocked(it.m.Topic)
		it.state = itemSlow
		return
	case err != nil:
		stripe.dropLocked(it.m.Topic)
		b.fail(r.idx, publishError(it.m.Topic, err))
		return
	}
	switch {
	case ack.Error != nil && ack.Error.ErrorCode == errWrongLastSeq:
		// Another node appended to the topic (or its history expired): the sequential path
		// rereads the head and retries.
		stripe.dropLocked(it.m.Topic)
		it.state = itemSlow
	case ack.Error != nil:
		stripe.dropLocked(it.m.Topic)
		b.fail(r.idx, publishError(it.m.Topic, fmt.Errorf("nats: %w", ack.Error)))
	case ack.Duplicate:
		// An earlier publish with this DedupKey is stored: the sequential path answers its
		// event.
		stripe.dropLocked(it.m.Topic)
		it.state = itemSlow
	default:
		hd := it.hd
		it.ev, it.state = it.event(hd, ack.Sequence), itemDone
		next := head{stream: it.s, created: hd.created, epoch: hd.epoch, seq: ack.Sequence, closed: it.m.Final}
		stripe.setLocked(it.m.Topic, next)
		if j := it.next; j >= 0 && j < b.limit {
			b.items[j].hd = next
			b.send(j)
		}
	}
}

// slowPath redoes, in input order and one at a time, the messages the pipeline could not
// store (and the later messages of their topics), stopping at the first failure.
func (b *batch) slowPath() {
	for i := 0; i < b.limit; i++ {
		it := &b.items[i]
		if it.state != itemSlow && (it.state != itemWaiting || it.prev < 0 || b.items[it.prev].state != itemDone) {
			continue
		}
		ev, err := b.e.publishLocked(b.ctx, &b.e.heads.stripes[it.stripe], it)
		if err != nil {
			b.fail(i, err)
			return
		}
		it.ev, it.state = ev, itemDone
	}
}
