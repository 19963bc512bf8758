package natsengine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/nats-io/nats.go"
)

// The NATS bridge: for each Options.Bridge rule the engine subscribes to the rule's pattern,
// a NATS subject in which '*' stands for one token (e.g. "scan.*.progress"), and publishes
// every message a worker sends there (`nats pub scan.abc.progress '{"step":"vision"}'`) as an
// event of the topic the rule's template names ("scan:{1}", "{subject}"), through the
// ordinary Publish path: history, ids, final rules.
//
// Exactly once: every node joins the same queue group ("<prefix>-bridge"), so NATS hands
// each message to exactly one node, which stores it once. A worker that sets Nats-Msg-Id
// (e.g. when it retries) gets JetStream deduplication on top: the header becomes the
// message's DedupKey. A worker that sends a request (`nats req`) gets the event id, or an
// error text, as the reply.
//
// Order: NATS keeps a subject's order to each node, and each node stores its share in that
// order; but two messages of one topic sent within a publish round trip of each other may
// reach two nodes and be stored in either order. Workers whose steps are that close should
// set Nats-Msg-Id and expect it, or run the bridge on one node (Bridge set on one node only).

// bridgeQueue is the queue group name of the bridge subscriptions.
func (e *Engine) bridgeQueue() string { return e.opts.Prefix + "-bridge" }

// checkBridge compiles the rules and checks that their patterns are NATS subjects that
// cannot reach Herald's own subjects (which would loop).
func checkBridge(rules []bridge.Rule, prefix string) error {
	if err := bridge.CompileRules(rules); err != nil {
		return err
	}
	for i, r := range rules {
		if r.IsStream() {
			return fmt.Errorf("%w %d: stream rules read Redis Streams; the NATS engine bridges subjects (pattern)", bridge.ErrInvalidRule, i)
		}
		toks := strings.Split(r.Pattern, ".")
		for _, tok := range toks {
			switch {
			case tok == "":
				return fmt.Errorf("%w %d: pattern %q has an empty token", bridge.ErrInvalidRule, i, r.Pattern)
			case tok == ">":
				return fmt.Errorf("%w %d: pattern %q: '>' is not supported, use one '*' per token", bridge.ErrInvalidRule, i, r.Pattern)
			case tok != "*" && strings.ContainsAny(tok, "*>"):
				return fmt.Errorf("%w %d: pattern %q: '*' must be a whole token", bridge.ErrInvalidRule, i, r.Pattern)
			}
		}
		if toks[0] == prefix || toks[0] == "*" || toks[0] == "$JS" {
			return fmt.Errorf("%w %d: pattern %q overlaps Herald's subjects (%s.>) or JetStream's", bridge.ErrInvalidRule, i, r.Pattern, prefix)
		}
	}
	return nil
}

// startBridge subscribes to every rule's pattern in the bridge queue group.
func (e *Engine) startBridge() error {
	for i := range e.opts.Bridge {
		r := &e.opts.Bridge[i]
		sub, err := e.nc.QueueSubscribe(r.Pattern, e.bridgeQueue(), func(m *nats.Msg) { e.bridgeMessage(r, m) })
		if err != nil {
			return unavailable(fmt.Errorf("natsengine: bridge %q: %w", r.Pattern, err))
		}
		_ = sub.SetPendingLimits(-1, -1)
		e.bridgeSubs = append(e.bridgeSubs, sub)
	}
	return nil
}

// bridgeMessage maps and stores one bridged message. Messages of one rule are handled one
// at a time, in arrival order.
func (e *Engine) bridgeMessage(r *bridge.Rule, m *nats.Msg) {
	msg, ok, err := r.Map(m.Subject, m.Data)
	if !ok {
		return
	}
	if err == nil {
		if id := m.Header.Get(nats.MsgIdHdr); id != "" {
			msg.DedupKey = id
		}
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		var evs []herald.Event
		evs, err = e.Publish(ctx, []herald.Message{msg})
		cancel()
		if err == nil {
			if m.Reply != "" {
				_ = m.Respond([]byte(evs[0].ID()))
			}
			return
		}
	}
	level := e.log.Warn
	if errors.Is(err, herald.ErrTopicClosed) {
		level = e.log.Info
	}
	level("natsengine: bridged message not stored", "subject", m.Subject, "rule", r.Pattern, "err", err)
	if m.Reply != "" {
		_ = m.Respond([]byte("error: " + err.Error()))
	}
}
