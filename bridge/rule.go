// Package bridge maps messages that backends already send to a broker (Redis Pub/Sub
// channels, Redis Streams entries, NATS subjects) to Herald messages, so that unchanged
// workers reach browsers with ids, history and task endings. It knows no broker: engines
// subscribe to the rules' patterns and call Rule.Map or Rule.MapFields for each message.
//
// A rule, as it appears in the server's YAML `bridge:` list:
//
//	bridge:
//	  # Celery workers: redis.publish(f"scan:{task_id}:progress", json.dumps({...}))
//	  - pattern: "scan:*:progress"
//	    topic: "scan:{1}"            # or "{channel}" to keep the channel name
//	    event_field: step            # the event name comes from the payload's "step"
//	    final_when: {field: progress, equals: 100}
//	  # Workers that XADD scan:events:{shard} job_id … stage … status …
//	  - stream: ["scan:events:*"]
//	    group: herald
//	    topic: "scan:{job_id}"
//	    event_field: stage
//	    final_when: {field: status, equals: completed}
//	  # Rows an application inserts into a PostgreSQL table in its own transactions
//	  - outbox: {dsn: "postgres://herald@db/app", table: herald_outbox}
//
// Templates are described at Template, patterns at Pattern.
package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/heraldpush/herald"
)

// ErrInvalidRule reports a bridge rule that cannot work; the message says why.
var ErrInvalidRule = errors.New("invalid bridge rule")

// Rule maps the messages of matching channels (Pattern) or stream keys (Stream) to topics,
// or names a PostgreSQL outbox table (Outbox). Exactly one of Pattern, Stream and Outbox is
// set. Call Compile (or CompileRules) before Map. Engines serve Pattern and Stream rules;
// outbox rules are served by package outbox (see SplitOutbox).
type Rule struct {
	// Pattern is a Pub/Sub channel (or NATS subject) glob; see Pattern.
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	// Stream lists stream keys or key globs (one string or a list in YAML).
	Stream StringList `yaml:"stream,omitempty" json:"stream,omitempty"`
	// Group is the consumer group that reads Stream; required with Stream.
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// Topic is the template of the topic name; see Template.
	Topic string `yaml:"topic" json:"topic"`
	// Event is a fixed event name; EventField, when set and present, takes precedence.
	Event string `yaml:"event,omitempty" json:"event,omitempty"`
	// EventField names the field whose value is the event name.
	EventField string `yaml:"event_field,omitempty" json:"event_field,omitempty"`
	// DataField names the field whose value is the event data. Empty means the whole
	// payload (Pub/Sub) or a JSON object of all entry fields (streams).
	DataField string `yaml:"data_field,omitempty" json:"data_field,omitempty"`
	// FinalWhen makes a message final (closing its topic) when a field has a value.
	FinalWhen *Condition `yaml:"final_when,omitempty" json:"final_when,omitempty"`
	// Outbox makes the rule a transactional outbox source; see OutboxSource.
	Outbox *OutboxSource `yaml:"outbox,omitempty" json:"outbox,omitempty"`

	compiled *compiled
}

// Condition holds when Field's value equals Equals. Numbers compare numerically (100,
// "100" and 100.0 are equal), everything else as text.
type Condition struct {
	Field  string `yaml:"field" json:"field"`
	Equals any    `yaml:"equals" json:"equals"`
}

// StringList is a list of strings that YAML may also give as a single string.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

type compiled struct {
	patterns []Pattern // Pattern, or each Stream entry
	topic    Template
	equals   string
}

// Compile validates r and prepares it for Map. The error wraps ErrInvalidRule.
func (r *Rule) Compile() error {
	c, err := r.compile()
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidRule, err)
	}
	r.compiled = c
	return nil
}

func (r *Rule) compile() (*compiled, error) {
	c := &compiled{}
	if r.Outbox != nil {
		if r.Pattern != "" || len(r.Stream) > 0 || r.Group != "" || r.Topic != "" || r.Event != "" ||
			r.EventField != "" || r.DataField != "" || r.FinalWhen != nil {
			return nil, errors.New("an outbox rule takes only outbox: {dsn, table, poll, batch, keep}; its rows name their topic, event and data")
		}
		return c, r.Outbox.Check()
	}
	switch {
	case r.Pattern != "" && len(r.Stream) > 0:
		return nil, errors.New("set either pattern or stream, not both")
	case r.Pattern == "" && len(r.Stream) == 0:
		return nil, errors.New("set pattern (Pub/Sub channels) or stream (stream keys)")
	case r.Pattern != "":
		if r.Group != "" {
			return nil, fmt.Errorf("pattern %q: group only applies to stream rules", r.Pattern)
		}
		p, err := ParsePattern(r.Pattern)
		if err != nil {
			return nil, err
		}
		c.patterns = []Pattern{p}
	default:
		if r.Group == "" {
			return nil, fmt.Errorf("stream %q: group is required", []string(r.Stream))
		}
		for _, s := range r.Stream {
			p, err := ParsePattern(s)
			if err != nil {
				return nil, fmt.Errorf("stream: %w", err)
			}
			c.patterns = append(c.patterns, p)
		}
	}
	stars := 0
	for _, p := range c.patterns {
		stars = max(stars, p.Stars())
	}
	t, err := ParseTemplate(r.Topic, stars)
	if err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	c.topic = t
	if r.Event != "" {
		if _, err := herald.ParseEventName(r.Event); err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
	}
	if f := r.FinalWhen; f != nil {
		if f.Field == "" {
			return nil, errors.New("final_when: field is required")
		}
		if f.Equals == nil {
			return nil, errors.New("final_when: equals is required")
		}
		c.equals, err = valueText(f.Equals)
		if err != nil {
			return nil, fmt.Errorf("final_when: equals: %w", err)
		}
	}
	return c, nil
}

// CompileRules compiles every rule, naming the failing one by its index.
func CompileRules(rules []Rule) error {
	for i := range rules {
		if err := rules[i].Compile(); err != nil {
			return fmt.Errorf("bridge rule %d: %w", i, err)
		}
	}
	return nil
}

// CompileBrokerRules compiles rules that an engine serves: like CompileRules, but an
// outbox rule is an error (package outbox serves those; see SplitOutbox).
func CompileBrokerRules(rules []Rule) error {
	for i := range rules {
		if rules[i].IsOutbox() {
			return fmt.Errorf("bridge rule %d: %w: outbox rules are served by package outbox, not by an engine", i, ErrInvalidRule)
		}
	}
	return CompileRules(rules)
}

// IsOutbox reports whether r is a transactional outbox source.
func (r *Rule) IsOutbox() bool { return r.Outbox != nil }

// SplitOutbox separates outbox rules from the broker rules that engines serve, keeping
// the order of each.
func SplitOutbox(rules []Rule) (broker, outbox []Rule) {
	for _, r := range rules {
		if r.IsOutbox() {
			outbox = append(outbox, r)
		} else {
			broker = append(broker, r)
		}
	}
	return broker, outbox
}

// IsStream reports whether r reads streams rather than Pub/Sub channels.
func (r *Rule) IsStream() bool { return len(r.Stream) > 0 }

// Patterns returns the compiled patterns: the Pub/Sub pattern, or the stream key patterns.
func (r *Rule) Patterns() []Pattern {
	if r.compiled == nil {
		return nil
	}
	return r.compiled.patterns
}

// Match reports whether channel (or stream key) is one of r's and returns the captures.
func (r *Rule) Match(channel string) ([]string, bool) {
	if r.compiled == nil {
		return nil, false
	}
	for _, p := range r.compiled.patterns {
		if caps, ok := p.Match(channel); ok {
			return caps, true
		}
	}
	return nil, false
}

// Map turns a Pub/Sub message (channel and payload) into a Message. ok is false when the
// channel does not match r. A JSON object payload provides the fields; any other payload
// has none (so only templates and rules without fields apply) and is sent as it is.
func (r *Rule) Map(channel string, payload []byte) (msg herald.Message, ok bool, err error) {
	caps, ok := r.Match(channel)
	if !ok {
		return herald.Message{}, false, nil
	}
	var obj map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		if json.Unmarshal(payload, &obj) != nil {
			obj = nil
		}
	}
	field := func(name string) (string, bool) {
		raw, ok := obj[name]
		if !ok {
			return "", false
		}
		return rawText(raw), true
	}
	data := payload
	if r.DataField != "" {
		raw, ok := obj[r.DataField]
		if !ok {
			return herald.Message{}, true, fmt.Errorf("channel %q: payload has no data field %q", channel, r.DataField)
		}
		data = []byte(rawText(raw))
	}
	msg, err = r.build(channel, caps, field, data)
	return msg, true, err
}

// MapFields turns a stream entry (key and fields) into a Message. ok is false when key does
// not match r. Unless DataField is set, the data is a JSON object of all fields.
func (r *Rule) MapFields(key string, fields map[string]string) (msg herald.Message, ok bool, err error) {
	caps, ok := r.Match(key)
	if !ok {
		return herald.Message{}, false, nil
	}
	field := func(name string) (string, bool) {
		v, ok := fields[name]
		return v, ok
	}
	var data []byte
	if r.DataField != "" {
		v, ok := fields[r.DataField]
		if !ok {
			return herald.Message{}, true, fmt.Errorf("stream %q: entry has no data field %q", key, r.DataField)
		}
		data = []byte(v)
	} else if data, err = json.Marshal(fields); err != nil {
		return herald.Message{}, true, err
	}
	msg, err = r.build(key, caps, field, data)
	return msg, true, err
}

func (r *Rule) build(channel string, caps []string, field func(string) (string, bool), data []byte) (herald.Message, error) {
	c := r.compiled
	name, err := c.topic.Expand(channel, caps, field)
	if err != nil {
		return herald.Message{}, err
	}
	topic, err := herald.ParseTopic(name)
	if err != nil {
		return herald.Message{}, fmt.Errorf("%q: topic %q: %w", channel, name, err)
	}
	ev := r.Event
	if r.EventField != "" {
		if v, ok := field(r.EventField); ok {
			ev = v
		}
	}
	evName, err := herald.ParseEventName(ev)
	if err != nil {
		return herald.Message{}, fmt.Errorf("%q: event: %w", channel, err)
	}
	msg := herald.Message{Topic: topic, Name: evName, Data: data}
	if f := r.FinalWhen; f != nil {
		if v, ok := field(f.Field); ok {
			msg.Final = sameValue(v, c.equals)
		}
	}
	return msg, nil
}

// rawText returns a JSON value as text: strings unquoted, everything else as written.
func rawText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// valueText returns a YAML/JSON scalar as text.
func valueText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	default:
		return "", fmt.Errorf("want a string, number or boolean, got %T", v)
	}
}

// sameValue compares numerically when both sides are numbers, else as text.
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && fa == fb
}
