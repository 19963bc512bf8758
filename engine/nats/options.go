package natsengine

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults used for zero Options fields and zero Retention fields. They match the memory
// engine's, so a topic keeps the same history whichever engine serves it.
const (
	// DefaultURL is the NATS server the engine connects to when Options.URL is empty.
	DefaultURL = nats.DefaultURL
	// DefaultPrefix is the first token of every subject and the stem of every stream name.
	DefaultPrefix = "herald"
	// DefaultHistorySize is how many events a topic keeps when its Retention.Size is 0.
	DefaultHistorySize = herald.DefaultHistorySize
	// DefaultHistoryTTL is how long a topic keeps an event when its Retention.TTL is 0.
	DefaultHistoryTTL = herald.DefaultHistoryTTL
	// DefaultDuplicates is the JetStream duplicate window in which a Message.DedupKey makes a
	// publish idempotent.
	DefaultDuplicates = 2 * time.Minute
	// DefaultStreamRefresh is how often the engine rereads its streams' creation times, to
	// notice a stream that another node deleted and recreated.
	DefaultStreamRefresh = 2 * time.Second
	// DefaultLeaseTTL is how long the bridge lease lasts without renewal: the longest a
	// cluster goes without a bridge when its leader dies without releasing it.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultTimeout bounds a round trip to NATS when the caller's context has no deadline.
	DefaultTimeout = 5 * time.Second
)

// Options configure an Engine. The zero value connects to DefaultURL and keeps
// DefaultHistorySize events for DefaultHistoryTTL in every topic.
type Options struct {
	// URL is the NATS server URL, or several separated by commas (nats.Connect syntax).
	URL string
	// NATSOptions are passed to nats.Connect after the engine's own (name, reconnect
	// behaviour, handlers): credentials, TLS, tokens, nkeys... A handler set here for
	// disconnect, reconnect or errors replaces the engine's and breaks Resync: don't.
	NATSOptions []nats.Option
	// Prefix is the first subject token and the stem of stream names: [A-Za-z0-9_-]+.
	// Nodes of one Herald cluster use the same prefix; several clusters may share a NATS
	// server with different prefixes. Empty means DefaultPrefix.
	Prefix string

	// Default is the retention of topics whose namespace is not in Namespaces.
	Default herald.Retention
	// Namespaces is the retention of each namespace (the part of a topic before its first
	// ':'). The engine creates or updates one stream per distinct retention at start-up.
	Namespaces map[string]herald.Retention
	// Retention, if not nil, overrides Default and Namespaces as the per-topic retention;
	// streams for retentions not known at start-up are created on first use.
	Retention herald.RetentionFunc
	// A zero Size or TTL in a retention means DefaultHistorySize or DefaultHistoryTTL; a
	// negative TTL means no age limit.

	// Replicas is the replica count of the streams (1, 3 or 5 on a cluster); 0 means 1.
	Replicas int
	// Storage is where the streams keep messages; the zero value is jetstream.FileStorage.
	Storage jetstream.StorageType
	// Duplicates is the duplicate window for Message.DedupKey; 0 means DefaultDuplicates.
	Duplicates time.Duration
	// StreamRefresh is how often stream creation times are reread; 0 means
	// DefaultStreamRefresh.
	StreamRefresh time.Duration
	// Bridge lists the `bridge:` rules whose pattern is a NATS subject ('*' for one token),
	// e.g. {Pattern: "scan.*.progress", Topic: "scan:{1}"}; see bridge.go. Stream rules
	// (Redis Streams) are refused.
	Bridge []bridge.Rule
	// LeaseTTL is the bridge lease's lifetime (see bridge_lease.go); 0 means
	// DefaultLeaseTTL. Every node of a cluster uses the same value.
	LeaseTTL time.Duration
	// Logger receives the engine's logs; nil means slog.Default().
	Logger *slog.Logger
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// withDefaults checks o and fills in its zero fields.
func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(o.Prefix) {
		return o, fmt.Errorf("natsengine: prefix %q is not [A-Za-z0-9_-]+", o.Prefix)
	}
	if err := checkBridge(o.Bridge, o.Prefix); err != nil {
		return o, fmt.Errorf("natsengine: %w", err)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Duplicates <= 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.StreamRefresh <= 0 {
		o.StreamRefresh = DefaultStreamRefresh
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// retention returns the effective retention of topic, with defaults applied.
func (o *Options) retention(t herald.Topic) herald.Retention {
	var r herald.Retention
	switch {
	case o.Retention != nil:
		r = o.Retention(t)
	default:
		var ok bool
		if r, ok = o.Namespaces[t.Namespace()]; !ok {
			r = o.Default
		}
	}
	return normalize(r)
}

// normalize applies the zero-value defaults to r.
func normalize(r herald.Retention) herald.Retention {
	r = r.WithDefaults()
	if r.TTL < 0 {
		r.TTL = -1
	}
	return r
}
