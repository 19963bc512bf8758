package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
)

// Stream bridge timing.
const (
	streamDiscoverEvery = 2 * time.Second        // how often key globs are rescanned
	streamBlock         = time.Second            // XREADGROUP BLOCK
	streamIdle          = 200 * time.Millisecond // how often a non-leader checks for leadership
)

// StreamConsumer is the consumer name under which the bridge leader reads stream groups.
// It is the same on every node: consumers of one group would share a stream's entries out
// and break its order (a job's "completed" overtaking its last step), so only the leader
// reads, and a new leader inherits its predecessor's pending entries by name.
const StreamConsumer = "herald-bridge"

// streamRule serves one stream rule while this node holds the bridge lease. Each entry is
// published with DedupKey "<key>/<entry id>" and acknowledged only after the publish
// succeeded, so a redelivery (a failed publish, or a new leader rereading the pending
// entries of the old one) is stored once. Groups are created at id 0 when missing, so
// entries written before Herald first ran are bridged too.
func (e *Engine) streamRule(ctx context.Context, r *bridge.Rule) {
	started := map[string]bool{}
	for {
		keys, err := e.streamKeys(ctx, r)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("stream bridge: listing keys", "stream", []string(r.Stream), "err", err)
		}
		for _, k := range keys {
			if !started[k] {
				started[k] = true
				e.wg.Go(func() { e.consumeStream(ctx, r, k) })
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(streamDiscoverEvery):
		}
	}
}

// streamKeys returns the rule's literal keys and the existing stream keys matching its globs.
func (e *Engine) streamKeys(ctx context.Context, r *bridge.Rule) ([]string, error) {
	var keys []string
	var errs []error
	for _, p := range r.Patterns() {
		if p.Literal() {
			keys = append(keys, p.String())
			continue
		}
		scan := func(ctx context.Context, c *goredis.Client) error {
			it := c.ScanType(ctx, 0, p.String(), 1000, "stream").Iterator()
			for it.Next(ctx) {
				keys = append(keys, it.Val())
			}
			return it.Err()
		}
		var err error
		switch c := e.rdb.(type) {
		case *goredis.ClusterClient:
			// ForEachMaster runs concurrently; collect per node.
			ch := make(chan []string, 16)
			err = c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
				var ks []string
				it := n.ScanType(ctx, 0, p.String(), 1000, "stream").Iterator()
				for it.Next(ctx) {
					ks = append(ks, it.Val())
				}
				ch <- ks
				return it.Err()
			})
			close(ch)
			for ks := range ch {
				keys = append(keys, ks...)
			}
		case *goredis.Client:
			err = scan(ctx, c)
		default:
			err = fmt.Errorf("cannot scan with %T", c)
		}
		errs = append(errs, err)
	}
	return keys, errors.Join(errs...)
}

func (e *Engine) ensureGroup(ctx context.Context, key, group string) error {
	err := e.rdb.XGroupCreateMkStream(ctx, key, group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// consumeStream reads one stream key for the rule until ctx ends. It first rereads its own
// pending entries (id 0: delivered before a crash or a failed publish, not acknowledged),
// then new ones (>).
func (e *Engine) consumeStream(ctx context.Context, r *bridge.Rule, key string) {
	log := e.log.With("stream", key, "group", r.Group)
	pending := true
	groupOK := false
	var backoff time.Duration
	sleep := func() bool {
		backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
			return true
		}
	}
	for ctx.Err() == nil {
		if !e.bridge.isLeader() {
			pending = true // a new leader first rereads what its predecessor left pending
			select {
			case <-ctx.Done():
				return
			case <-time.After(streamIdle):
			}
			continue
		}
		if !groupOK {
			if err := e.ensureGroup(ctx, key, r.Group); err != nil {
				log.Warn("stream bridge: create group", "err", err)
				if !sleep() {
					return
				}
				continue
			}
			groupOK = true
		}
		id := ">"
		if pending {
			id = "0"
		}
		res, err := e.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: r.Group, Consumer: StreamConsumer, Streams: []string{key, id}, Count: 100, Block: streamBlock,
		}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				groupOK = false
			}
			log.Warn("stream bridge: read", "err", err)
			if !sleep() {
				return
			}
			continue
		}
		var entries []goredis.XMessage
		if len(res) > 0 {
			entries = res[0].Messages
		}
		if pending && len(entries) == 0 {
			pending = false
			continue
		}
		for _, m := range entries {
			if !e.bridgeEntry(ctx, log, r, key, m) {
				pending = true
				if !sleep() {
					return
				}
				break
			}
			backoff = 0
		}
	}
}

// bridgeEntry stores one entry and acknowledges it. It returns false when the entry must be
// retried (Herald could not store it).
func (e *Engine) bridgeEntry(ctx context.Context, log interface {
	Warn(string, ...any)
}, r *bridge.Rule, key string, m goredis.XMessage) bool {
	if m.Values != nil {
		fields := make(map[string]string, len(m.Values))
		for k, v := range m.Values {
			fields[k] = fmt.Sprint(v)
		}
		msg, _, err := r.MapFields(key, fields)
		switch {
		case err != nil:
			log.Warn("stream bridge: cannot map entry; acknowledging it", "id", m.ID, "err", err)
		default:
			msg.DedupKey = key + "/" + m.ID
			if _, err := e.Publish(ctx, []herald.Message{msg}); err != nil {
				if !errors.Is(err, herald.ErrTopicClosed) {
					log.Warn("stream bridge: publish failed; will retry", "id", m.ID, "err", err)
					return false
				}
				log.Warn("stream bridge: topic closed; acknowledging entry", "id", m.ID, "topic", msg.Topic)
			}
		}
	}
	if err := e.rdb.XAck(ctx, key, r.Group, m.ID).Err(); err != nil {
		log.Warn("stream bridge: ack failed; entry will be redelivered and deduplicated", "id", m.ID, "err", err)
		return false
	}
	return true
}
