package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/presenceshare"
)

// Presence store and the publish "online" answer.
//
// Layout, for prefix P, topic T (escaped E as in keys.go) and user U (escaped the same way):
//
//	P:{E}:p        hash  node id → "<expiry ms> <JSON user → connections>"  (T's presence)
//	P:user:{U}     hash  node id → "<expiry ms> <connections>"               (U's presence)
//
// Each field is one node's share. Expiries are computed from Redis's own clock (TIME inside
// the scripts), so node clocks do not matter; readers ignore and delete expired fields, and
// every write also sets the key's TTL, so a key whose nodes all died vanishes by itself. A
// topic's presence key shares the topic's hash tag, and each key is touched by one
// single-key script, so all of it works on Redis Cluster.

var (
	_ herald.PresenceEngine  = (*Engine)(nil)
	_ herald.OnlinePublisher = (*Engine)(nil)
)

// presenceWriteScript writes (or with an empty value removes) one node's share.
// KEYS: the presence hash. ARGV: node, ttl ms, value.
var presenceWriteScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', now + tonumber(ARGV[2])) .. ' ' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// presenceReadScript returns the values of the live shares and deletes the expired ones.
// KEYS: the presence hash.
var presenceReadScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local sp = string.find(v, ' ', 1, true)
  local exp = sp and tonumber(string.sub(v, 1, sp - 1)) or 0
  if exp <= now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = string.sub(v, sp + 1)
  end
end
return out
`)

func (e *Engine) topicPresenceKey(t herald.Topic) string {
	return e.prefix + ":{" + escapeTopic(string(t)) + "}:p"
}

func (e *Engine) userPresenceKey(user string) string {
	return e.prefix + ":user:{" + escapeTopic(user) + "}"
}

// Presence returns the engine as its own presence store (see the layout above).
func (e *Engine) Presence() herald.PresenceStore { return (*presenceStore)(e) }

type presenceStore Engine

// UpdatePresence writes node's shares in one pipeline.
func (p *presenceStore) UpdatePresence(ctx context.Context, node string, u herald.PresenceUpdate, ttl time.Duration) error {
	e := (*Engine)(p)
	if e.closed.Load() {
		return herald.ErrClosed
	}
	ms := ttl.Milliseconds()
	if ms <= 0 {
		ms = 1
	}
	_, err := e.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for t, users := range u.Topics {
			val, err := presenceshare.EncodeTopic(users)
			if err != nil {
				return err
			}
			presenceWriteScript.Eval(ctx, pipe, []string{e.topicPresenceKey(t)}, node, ms, string(val))
		}
		for user, n := range u.Users {
			presenceWriteScript.Eval(ctx, pipe, []string{e.userPresenceKey(user)}, node, ms, string(presenceshare.EncodeUser(n)))
		}
		return nil
	})
	if err != nil {
		return e.wrap("presence write", err)
	}
	return nil
}

// TopicPresence sums the live shares of topic.
func (p *presenceStore) TopicPresence(ctx context.Context, topic herald.Topic) (herald.TopicPresence, error) {
	e := (*Engine)(p)
	tp := herald.TopicPresence{Users: map[string]int{}}
	vals, err := presenceReadScript.Eval(ctx, e.rdb, []string{e.topicPresenceKey(topic)}).StringSlice()
	if err != nil {
		return tp, e.wrap("presence read", err)
	}
	for _, v := range vals {
		if err := presenceshare.AddTopic(&tp, []byte(v)); err != nil {
			return tp, fmt.Errorf("redis engine: presence of %q: %w", topic, err)
		}
	}
	return tp, nil
}

// UserPresence sums the live shares of user.
func (p *presenceStore) UserPresence(ctx context.Context, user string) (int, error) {
	e := (*Engine)(p)
	vals, err := presenceReadScript.Eval(ctx, e.rdb, []string{e.userPresenceKey(user)}).StringSlice()
	if err != nil {
		return 0, e.wrap("presence read", err)
	}
	total := 0
	for _, v := range vals {
		n, err := presenceshare.ParseUser([]byte(v))
		if err != nil {
			return 0, fmt.Errorf("redis engine: presence of user %q: %w", user, err)
		}
		total += n
	}
	return total, nil
}

// PublishOnline publishes msgs like Publish and reports, per event, whether any node
// received it live. On a single Redis that is the reply of the script's PUBLISH: only nodes
// with subscribers to a topic subscribe its channel, so a count above zero means a node
// with a stream on the topic got the event, and the answer costs nothing extra. It is exact
// at the instant of the PUBLISH, up to streams that are opening or ending (a node
// subscribes the channel as a stream opens and unsubscribes after its last one ended).
// Redis Cluster counts only the receivers on the shard that ran the script, so there the
// answer comes from the presence store instead (one read per topic of the batch), which
// lags a join by the joining node's write round trip.
func (e *Engine) PublishOnline(ctx context.Context, msgs []herald.Message) ([]herald.Event, []bool, error) {
	if e.closed.Load() {
		return nil, nil, herald.ErrClosed
	}
	if _, cluster := e.rdb.(*goredis.ClusterClient); cluster {
		evs, err := e.Publish(ctx, msgs)
		online := make([]bool, len(evs))
		store := e.Presence()
		for i := range evs {
			if i > 0 && evs[i].Topic == evs[i-1].Topic {
				online[i] = online[i-1]
				continue
			}
			// An unreadable store counts as offline: a fallback sent twice beats one lost.
			tp, perr := store.TopicPresence(ctx, evs[i].Topic)
			if perr != nil {
				e.log.Warn("presence read for publish", "topic", evs[i].Topic, "err", perr)
			}
			online[i] = perr == nil && tp.Connections > 0
		}
		return evs, online, err
	}
	events := make([]herald.Event, 0, len(msgs))
	online := make([]bool, 0, len(msgs))
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Topic == msgs[i].Topic {
			j++
		}
		var err error
		events, err = e.publishRun(ctx, msgs[i:j], events, &online)
		if err != nil {
			return events, online[:len(events)], &herald.PublishError{Published: len(events), Err: err}
		}
		i = j
	}
	return events, online, nil
}
