package natsengine

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// ackInbox is the engine's shared reply inbox for pipelined JetStream publishes: one
// wildcard subscription "<inbox>.*" for the whole engine, and a map from reply token to the
// batch waiting for that acknowledgement. A batch sends all its independent messages with
// replies here and then collects the acknowledgements from one channel (one per batch, not
// one per message), instead of one request/reply round trip per message.
type ackInbox struct {
	prefix string // "<inbox>." ; a reply subject is prefix + base36 token
	sub    *nats.Subscription
	next   atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]ackWait
}

// ackWait is a batch waiting for the acknowledgement of its message idx.
type ackWait struct {
	ch  chan<- ackReply
	idx int
}

// ackReply is what the inbox hands to a batch: the acknowledgement message, or an error
// when the acknowledgement cannot come any more (the connection was lost).
type ackReply struct {
	idx int
	msg *nats.Msg
	err error
}

// start subscribes the inbox on nc.
func (a *ackInbox) start(nc *nats.Conn) error {
	a.prefix = nc.NewInbox() + "."
	a.pending = make(map[uint64]ackWait)
	sub, err := nc.Subscribe(a.prefix+"*", a.onAck)
	if err != nil {
		return err
	}
	// Acknowledgements are small and consumed at once; never drop them for a burst.
	_ = sub.SetPendingLimits(-1, -1)
	a.sub = sub
	return nil
}

// register returns the reply subject and token under which the acknowledgement of message
// idx is handed to ch. ch must have room for every acknowledgement its batch awaits.
func (a *ackInbox) register(ch chan<- ackReply, idx int) (string, uint64) {
	id := a.next.Add(1)
	a.mu.Lock()
	a.pending[id] = ackWait{ch: ch, idx: idx}
	a.mu.Unlock()
	return a.prefix + strconv.FormatUint(id, 36), id
}

// cancel forgets token id (a batch that stopped waiting).
func (a *ackInbox) cancel(id uint64) {
	a.mu.Lock()
	delete(a.pending, id)
	a.mu.Unlock()
}

func (a *ackInbox) onAck(m *nats.Msg) {
	if len(m.Subject) <= len(a.prefix) {
		return
	}
	id, err := strconv.ParseUint(m.Subject[len(a.prefix):], 36, 64)
	if err != nil {
		return
	}
	a.mu.Lock()
	w, ok := a.pending[id]
	delete(a.pending, id)
	a.mu.Unlock()
	if ok {
		w.ch <- ackReply{idx: w.idx, msg: m} // never blocks: see register
	}
}

// failAll answers every pending acknowledgement with err (the connection dropped: the
// acknowledgements in flight will never arrive).
func (a *ackInbox) failAll(err error) {
	a.mu.Lock()
	for id, w := range a.pending {
		w.ch <- ackReply{idx: w.idx, err: err}
		delete(a.pending, id)
	}
	a.mu.Unlock()
}
