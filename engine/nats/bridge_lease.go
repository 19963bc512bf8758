package natsengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The bridge lease: only one node of a cluster subscribes to the bridge rules' subjects at a
// time, so a worker's messages are stored in the order it sent them. (A queue group of every
// node, as the bridge first had, hands consecutive messages of one subject to different
// nodes, which store them in whichever order their publishes finish: a final step could
// overtake the step before it, which was then refused as published after the final event.)
//
// The lease is the key "leader" of the KV bucket "<prefix>_bridge", whose TTL is
// Options.LeaseTTL. A node takes it with a create (which fails while another node's lease
// lives), renews it every LeaseTTL/3 with an update conditional on its own last revision,
// and releases it with a conditional delete when it closes, so another node takes over
// within LeaseTTL/3. A leader that cannot renew stops bridging when its lease would have run
// out by its own clock, and stops at once when another node holds the key.
//
// Failover: a leader that dies without releasing leaves its key until the bucket's TTL
// removes it; core NATS does not keep messages for absent subscribers, so messages published
// in that window (at most LeaseTTL, default 5 s) are lost, as for any NATS subscriber that is
// down. The leader still subscribes in a queue group, so the moment in which two nodes may
// both be subscribed (a lease that just changed hands) stores each message once.
type bridgeLease struct {
	node       string       // this node's id, the value of the key while it leads
	leader     atomic.Bool  // this node holds the lease and is subscribed
	validUntil atomic.Int64 // unix nanos after which this node must not store

	// Owned by the lease loop.
	kv   jetstream.KeyValue
	rev  uint64 // the key's revision written by this node
	subs []*nats.Subscription

	quit context.CancelFunc // ends the lease loop's context: release and return
	done chan struct{}      // closed when the loop has returned
}

// leaseKey is the key of the lease in the bridge bucket.
const leaseKey = "leader"

// bridgeBucket is the name of the KV bucket holding the bridge lease.
func (e *Engine) bridgeBucket() string { return e.opts.Prefix + "_bridge" }

// isLeader reports whether this node may store bridged messages now.
func (l *bridgeLease) isLeader() bool {
	return l.leader.Load() && time.Now().UnixNano() < l.validUntil.Load()
}

// startLease starts the lease loop when there are bridge rules.
func (e *Engine) startLease() {
	if len(e.opts.Bridge) == 0 {
		return
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	ctx, quit := context.WithCancel(context.Background())
	e.lease = &bridgeLease{node: hex.EncodeToString(id[:]), quit: quit, done: make(chan struct{})}
	go e.leaseLoop(ctx)
}

// stopLease releases the lease (if held) and waits for the lease loop to return.
func (e *Engine) stopLease() {
	if e.lease == nil {
		return
	}
	e.lease.quit()
	<-e.lease.done
}

// leaseLoop takes and renews the lease until ctx ends (Close), then releases it.
func (e *Engine) leaseLoop(ctx context.Context) {
	defer close(e.lease.done)
	ttl := e.opts.LeaseTTL
	for {
		// A round in progress when Close comes is cut short; the release has its own time.
		round, cancel := context.WithTimeout(ctx, ttl/3)
		e.leaseRound(round)
		cancel()
		select {
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.Background(), time.Second)
			e.releaseLease(release)
			cancel()
			return
		case <-time.After(ttl / 3):
		}
	}
}

// leaseRound takes the lease when it is free, or renews it when this node holds it.
func (e *Engine) leaseRound(ctx context.Context) {
	l := e.lease
	start := time.Now()
	ttl := e.opts.LeaseTTL
	kv, err := e.leaseBucket(ctx)
	if err != nil {
		e.leaseFailed(err)
		return
	}
	if !l.leader.Load() {
		rev, err := kv.Create(ctx, leaseKey, []byte(l.node))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				e.log.Debug("natsengine: bridge lease", "err", err)
				l.kv = nil // a lost bucket (a restarted server) is made again next round
			}
			return
		}
		l.rev = rev
		l.validUntil.Store(start.Add(ttl).UnixNano())
		if err := e.subscribeBridge(); err != nil {
			e.log.Warn("natsengine: bridge leader cannot subscribe; releasing the lease", "err", err)
			e.releaseLease(ctx)
			return
		}
		l.leader.Store(true)
		e.log.Info("natsengine: bridge leader: serving the bridge rules", "node", l.node)
		return
	}
	rev, err := kv.Update(ctx, leaseKey, []byte(l.node), l.rev)
	switch {
	case err == nil:
		l.rev = rev
		l.validUntil.Store(start.Add(ttl).UnixNano())
	case isWrongLastSeq(err), errors.Is(err, jetstream.ErrKeyNotFound):
		// Another node holds the key, or it expired while this node could not renew.
		e.stepDown(fmt.Errorf("lease taken over: %w", err))
	default:
		e.leaseFailed(err)
	}
}

// leaseFailed handles a failed round: a leader steps down once its lease has run out.
func (e *Engine) leaseFailed(err error) {
	l := e.lease
	l.kv = nil
	if l.leader.Load() && time.Now().UnixNano() >= l.validUntil.Load() {
		e.stepDown(err)
	}
}

// stepDown stops bridging.
func (e *Engine) stepDown(why error) {
	e.lease.leader.Store(false)
	e.unsubscribeBridge()
	e.log.Warn("natsengine: bridge leader: lease lost; stopping the bridge", "err", why)
}

// releaseLease stops bridging and deletes the key if this node still holds it, so that
// another node takes over at its next round.
func (e *Engine) releaseLease(ctx context.Context) {
	l := e.lease
	wasLeader := l.leader.Swap(false)
	e.unsubscribeBridge()
	if !wasLeader && l.rev == 0 {
		return
	}
	if l.kv != nil {
		_ = l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.rev))
	}
	l.rev = 0
}

// leaseBucket returns the bridge bucket, creating it (or setting its TTL) when needed.
func (e *Engine) leaseBucket(ctx context.Context) (jetstream.KeyValue, error) {
	l := e.lease
	if l.kv != nil {
		return l.kv, nil
	}
	kv, err := e.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: e.bridgeBucket(), Description: "Herald bridge lease: the node that serves the bridge rules",
		History: 1, TTL: e.opts.LeaseTTL, Storage: jetstream.MemoryStorage, Replicas: e.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsengine: bridge bucket %s: %w", e.bridgeBucket(), err)
	}
	l.kv = kv
	return kv, nil
}

// isWrongLastSeq reports whether err is JetStream's refusal of a conditional write.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
