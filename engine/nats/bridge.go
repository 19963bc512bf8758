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
// Exactly once, in order: one node at a time serves the rules (the bridge lease, see
// bridge_lease.go), so NATS hands every message to that node, which stores a subject's
// messages one at a time in the order the worker sent them. A worker that sets Nats-Msg-Id
// (e.g. when it retries) gets JetStream deduplication on top: the header becomes the
// message's DedupKey. A worker that sends a request (`nats req`) gets the event id, or an
// error text, as the reply.

// bridgeQueue is the queue group name of the bridge subscriptions.
func (e *Engine) bridgeQueue() string { return e.opts.Prefix + "-bridge" }

// checkBridge compiles the rules and checks that their patterns are NATS subjects that
// cannot reach Herald's own subjects (which would loop).
func checkBridge(rules []bridge.Rule, prefix string) error {
	if err := bridge.CompileBrokerRules(rules); err != nil {
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

// subscribeBridge subscribes to every rule's pattern in the bridge queue group; the lease
// loop calls it when this node takes the lease.
func (e *Engine) subscribeBridge() error {
	l := e.lease
	for i := range e.opts.Bridge {
		r := &e.opts.Bridge[i]
		sub, err := e.nc.QueueSubscribe(r.Pattern, e.bridgeQueue(), func(m *nats.Msg) { e.bridgeMessage(r, m) })
		if err != nil {
			e.unsubscribeBridge()
			return unavailable(fmt.Errorf("natsengine: bridge %q: %w", r.Pattern, err))
		}
		_ = sub.SetPendingLimits(-1, -1)
		l.subs = append(l.subs, sub)
	}
	return e.flush(context.Background())
}

// unsubscribeBridge ends the bridge subscriptions (a node that gave up the lease).
func (e *Engine) unsubscribeBridge() {
	l := e.lease
	for _, sub := range l.subs {
		_ = sub.Unsubscribe()
	}
	l.subs = nil
}

// bridgeMessage maps and stores one bridged message. Messages of one rule are handled one
// at a time, in arrival order.
func (e *Engine) bridgeMessage(r *bridge.Rule, m *nats.Msg) {
	if !e.lease.isLeader() {
		// The lease ran out while the message waited: the next leader serves the subject.
		e.log.Warn("natsengine: bridged message not stored: this node's bridge lease ran out", "subject", m.Subject)
		return
	}
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
