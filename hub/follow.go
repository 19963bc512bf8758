package hub

import (
	"context"
	"fmt"

	"github.com/heraldpush/herald"
)

// Follower consumes one topic's node-level stream in-process: the same gap-free,
// duplicate-free sequence of events the hub fans out to its connections (package mercure
// follows its log topic this way). Both methods are called under the topic's lock, in
// order, and must not block; the event is not retained after the call returns.
type Follower interface {
	// Event is a live or history-filled event that continues the node's chain.
	Event(ev *herald.Event)
	// Reset reports that the node's position jumped to pos (reason: ResetExpired,
	// ResetEpoch): events between the last one delivered and pos were lost to this node.
	Reset(reason ResetReason, pos herald.Position)
}

// Follow subscribes f to name's events on this node. It waits until the node knows the
// topic's position (or ctx ends) and returns that position as head: f then gets every event
// after head, in order. stop ends the following; it must be called once.
func (h *Hub) Follow(ctx context.Context, name herald.Topic, f Follower) (head herald.Position, stop func(), err error) {
	t := h.acquire(name)
	t.lock()
	ready := t.readyChanLocked()
	t.unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		h.release(t)
		return herald.Position{}, nil, fmt.Errorf("follow %s: %w", name, ctx.Err())
	}
	t.lock()
	x := t.sideLocked()
	x.followers = append(x.followers, f)
	head = herald.Position{Epoch: t.epoch, Seq: t.last}
	t.unlock()
	stop = func() {
		t.lock()
		if x := t.side; x != nil {
			for i, g := range x.followers {
				if g == f {
					x.followers = append(x.followers[:i:i], x.followers[i+1:]...)
					break
				}
			}
			t.trimSideLocked()
		}
		t.unlock()
		h.release(t)
	}
	return head, stop, nil
}

// followEventLocked hands ev to t's followers (hook in fanoutLocked, which calls it when
// the topic has a side struct).
func followEventLocked(t *topic, ev *herald.Event) {
	for _, f := range t.side.followers {
		f.Event(ev)
	}
}

// followResetLocked tells t's followers that the node's position jumped (hook in
// resetLocked, which calls it when the topic has a side struct).
func followResetLocked(t *topic, reason ResetReason, pos herald.Position) {
	for _, f := range t.side.followers {
		f.Reset(reason, pos)
	}
}
