package redis

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
)

// The bridge stores each message PUBLISHed on a rule's channels exactly once, and keeps
// each stream's order, even when every node runs it: only the node holding the lease
// P:bridge:leader (SET NX PX, renewed every LeaseTTL/3 by a compare-and-PEXPIRE script)
// PSUBSCRIBEs the rules' patterns and reads the rules' streams (see bridge_stream.go).
// A leader that cannot renew stops bridging when its lease would have run out by its own
// clock (it never stores after that), and a leader that shuts down deletes its lease.
//
// Failover: when a leader dies without releasing, nobody bridges until its lease expires
// (at most LeaseTTL, default 5 s) and the next node wins SET NX; Pub/Sub is fire-and-forget,
// so messages PUBLISHed in that window are lost — as they are for any Pub/Sub subscriber
// that is down. Workers that need at-least-once should XADD to a stream instead (the stream
// bridge has no such window: unacknowledged entries are redelivered and stored once).
type pubsubBridge struct {
	byPattern  map[string][]*bridge.Rule
	patterns   []string
	leader     atomic.Bool
	validUntil atomic.Int64 // unix nanos after which this node must not store
	queue      chan *goredis.Message
	leaseKey   string
}

// startBridge starts the lease loop and worker for Pub/Sub rules and one consumer loop per
// stream rule.
func (e *Engine) startBridge(ctx context.Context) {
	if len(e.rules) == 0 {
		return
	}
	e.bridge = &pubsubBridge{
		byPattern: make(map[string][]*bridge.Rule),
		queue:     make(chan *goredis.Message, 1024),
		leaseKey:  e.prefix + ":bridge:leader",
	}
	for i := range e.rules {
		r := &e.rules[i]
		if r.IsStream() {
			e.wg.Go(func() { e.streamRule(ctx, r) })
			continue
		}
		if _, ok := e.bridge.byPattern[r.Pattern]; !ok {
			e.bridge.patterns = append(e.bridge.patterns, r.Pattern)
		}
		e.bridge.byPattern[r.Pattern] = append(e.bridge.byPattern[r.Pattern], r)
	}
	e.wg.Go(func() { e.leaseLoop(ctx) })
	e.wg.Go(func() { e.bridgeWorker(ctx) })
}

// stopBridge gives up the lease so that another node takes over at once.
func (e *Engine) stopBridge() {
	b := e.bridge
	if b == nil || !b.leader.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	b.leader.Store(false)
	_ = releaseScript.Run(ctx, e.rdb, []string{b.leaseKey}, e.nodeID).Err()
}

// isLeader reports whether this node may store bridged Pub/Sub messages now.
func (b *pubsubBridge) isLeader() bool {
	return b.leader.Load() && time.Now().UnixNano() < b.validUntil.Load()
}

func (e *Engine) leaseLoop(ctx context.Context) {
	b := e.bridge
	tick := e.leaseTTL / 3
	ttl := e.leaseTTL
	for {
		start := time.Now()
		if !b.leader.Load() {
			ok, err := e.rdb.SetNX(ctx, b.leaseKey, e.nodeID, ttl).Result()
			if err == nil && ok {
				b.validUntil.Store(start.Add(ttl).UnixNano())
				b.leader.Store(true)
				e.log.Info("bridge leader: serving the bridge rules", "patterns", b.patterns)
				for _, p := range b.patterns {
					if err := e.subscribe(ctx, p, true); err != nil {
						e.log.Warn("bridge: psubscribe", "pattern", p, "err", err)
					}
				}
			}
		} else {
			n, err := renewScript.Run(ctx, e.rdb, []string{b.leaseKey}, e.nodeID, ttl.Milliseconds()).Int()
			switch {
			case err == nil && n == 1:
				b.validUntil.Store(start.Add(ttl).UnixNano())
			case err == nil || time.Now().UnixNano() >= b.validUntil.Load():
				e.log.Warn("bridge leader: lease lost; stopping the bridge", "err", err)
				b.leader.Store(false)
				if len(b.patterns) > 0 {
					_ = e.ps.PUnsubscribe(ctx, b.patterns...)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
	}
}

// bridgeMessage is called by the Pub/Sub reader for pattern messages; the worker stores them
// in arrival order without holding up live delivery for long.
func (e *Engine) bridgeMessage(ctx context.Context, m *goredis.Message) {
	if e.bridge == nil {
		return
	}
	if len(m.Channel) > len(e.prefix) && m.Channel[:len(e.prefix)+1] == e.prefix+":" {
		return // Herald's own channels never feed the bridge
	}
	select {
	case e.bridge.queue <- m:
	case <-ctx.Done():
	}
}

func (e *Engine) bridgeWorker(ctx context.Context) {
	b := e.bridge
	for {
		var m *goredis.Message
		select {
		case <-ctx.Done():
			return
		case m = <-b.queue:
		}
		if !b.isLeader() {
			continue
		}
		for _, r := range b.byPattern[m.Pattern] {
			msg, ok, err := r.Map(m.Channel, []byte(m.Payload))
			if !ok {
				continue
			}
			if err != nil {
				e.log.Warn("bridge: cannot map message", "channel", m.Channel, "err", err)
				continue
			}
			if _, err := e.Publish(ctx, []herald.Message{msg}); err != nil && !errors.Is(err, herald.ErrTopicClosed) {
				e.log.Error("bridge: message lost: publish failed", "channel", m.Channel, "topic", msg.Topic, "err", err)
			}
		}
	}
}
