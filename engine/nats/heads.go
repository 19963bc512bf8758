package natsengine

import (
	"hash/maphash"
	"sync"

	"github.com/heraldpush/herald"
)

// headStripes is the number of lock stripes of the head cache; publishes to topics of
// different stripes never wait for each other on this node. A batch holds the stripes of all
// its topics for one round trip, so there are many: two batches of 10 random topics share a
// stripe with probability ~2.4% at 4096 (~33% at 256).
const headStripes = 4096

// maxHeadsPerStripe bounds the cache (4096 × 256 ≈ 1M topics): a stripe that grows past it
// is emptied (the next publish of each topic then reads its head from JetStream once).
const maxHeadsPerStripe = 256

// head is what this node last saw at the end of a topic: the subject's last stream sequence
// and whether that message was final. It is only a guess, checked by JetStream on every
// publish through Nats-Expected-Last-Subject-Sequence.
type head struct {
	stream  *stream
	created int64 // the stream's creation time when the head was read; stale once it changes
	seq     uint64
	epoch   string // the topic's epoch; "" when seq is 0
	closed  bool
}

// heads caches topic heads, striped by topic hash. A stripe's mutex is held across a whole
// publish to one of its topics, so this node's publishes to one topic never race each other
// (other nodes' publishes are caught by the expected-sequence check).
type heads struct {
	seed    maphash.Seed
	stripes [headStripes]headStripe
}

type headStripe struct {
	mu sync.Mutex
	m  map[herald.Topic]head
}

func newHeads() *heads {
	h := &heads{seed: maphash.MakeSeed()}
	for i := range h.stripes {
		h.stripes[i].m = make(map[herald.Topic]head)
	}
	return h
}

// index returns the number of t's stripe. A caller that needs several stripes locks them in
// increasing index order, so that two batches never wait for each other in a cycle.
func (h *heads) index(t herald.Topic) int {
	return int(maphash.String(h.seed, string(t)) % headStripes)
}

// getLocked returns t's cached head in st's current incarnation.
func (s *headStripe) getLocked(t herald.Topic, st *stream) (head, bool) {
	hd, ok := s.m[t]
	if created, _ := st.current(); !ok || hd.stream != st || hd.created != created {
		return head{}, false
	}
	return hd, true
}

func (s *headStripe) setLocked(t herald.Topic, hd head) {
	if len(s.m) >= maxHeadsPerStripe {
		clear(s.m)
	}
	s.m[t] = hd
}

func (s *headStripe) dropLocked(t herald.Topic) { delete(s.m, t) }

// prime caches hd as t's head unless a head of t is cached already (a publish of this node
// knows better) or the stripe is busy with a publish (it is not worth waiting for). History
// calls it with the head it has just read, so that a node holding subscribers of a topic
// sends the topic's first publish without reading the head again: the read costs a round
// trip and nats-server a last-message lookup.
func (h *heads) prime(t herald.Topic, hd head) {
	s := &h.stripes[h.index(t)]
	if !s.mu.TryLock() {
		return
	}
	if _, ok := s.getLocked(t, hd.stream); !ok {
		s.setLocked(t, hd)
	}
	s.mu.Unlock()
}

// dropAll forgets every head (after a reconnect).
func (h *heads) dropAll() {
	for i := range h.stripes {
		s := &h.stripes[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
