package hub

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// An idle topic, once its position is known and its fill is done, holds no channel: a topic
// per stream must cost little (issue 17). Waiters still get one while the topic is not ready.
func TestIdleTopicHoldsNoChannel(t *testing.T) {
	eng := newFaultyEngine()
	h := startHub(t, eng)
	s := openStream(t, h, Request{Topics: []herald.Topic{"idle"}})
	publishN(t, eng, "idle", 1, 1)
	s.expect(t, "1")

	tp := waitTopicIdle(t, h, "idle")

	// A follower of a ready topic does not wait, and gets the head.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	head, stop, err := h.Follow(ctx, "idle", followerFunc{})
	if err != nil {
		t.Fatalf("Follow a ready topic: %v", err)
	}
	tp.lock()
	followed := tp.side != nil && len(tp.side.followers) == 1
	tp.unlock()
	stop()
	if head.Seq != 1 {
		t.Fatalf("Follow head %+v, want Seq 1", head)
	}
	tp.lock()
	side := tp.side
	tp.unlock()
	if !followed || side != nil {
		t.Fatalf("follower registered %v, side struct after stop %v; want registered, then dropped", followed, side != nil)
	}

	// Until a topic is ready (again), it hands its waiters one channel, closed when it is.
	nt := newTopic("fresh")
	nt.lock()
	defer nt.unlock()
	for round := range 2 {
		a, b := nt.readyChanLocked(), nt.readyChanLocked()
		if a != b {
			t.Fatalf("round %d: two waiters of a topic that is not ready got different channels", round)
		}
		select {
		case <-a:
			t.Fatalf("round %d: the ready channel is closed before the topic is ready", round)
		default:
		}
		nt.setReadyLocked()
		select {
		case <-a:
		default:
			t.Fatalf("round %d: the ready channel is open after the topic became ready", round)
		}
		if nt.side != nil {
			t.Fatalf("round %d: a ready topic still holds its channel (side struct)", round)
		}
		nt.forgetLocked() // the engine subscription ended: not ready until the next one
	}
}

// waitTopicIdle waits (up to 5 s) until the node's topic name is ready, not filling and
// holds no side struct (no channel, no held event, no follower), and returns it.
func waitTopicIdle(t *testing.T, h *Hub, name herald.Topic) *topic {
	t.Helper()
	sh := h.shard(name)
	sh.mu.Lock()
	tp := sh.topics[name]
	sh.mu.Unlock()
	if tp == nil {
		t.Fatalf("no topic entry for followed topic %q", name)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		tp.lock()
		ready, filling, side := tp.ready, tp.filling, tp.side != nil
		tp.unlock()
		if ready && !filling && !side {
			return tp
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %q after 5 s: ready %v, filling %v, side struct %v; want a ready topic holding no channel and no side struct",
				name, ready, filling, side)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// followerFunc is a Follower that ignores what it gets.
type followerFunc struct{}

func (followerFunc) Event(*herald.Event)                {}
func (followerFunc) Reset(ResetReason, herald.Position) {}
