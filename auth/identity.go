package auth

import (
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
)

// Identity is who made a request, as an Authenticator verified it. The zero Identity may do
// nothing.
type Identity struct {
	// Subject is the token's sub claim ("" for anonymous and API-key identities).
	Subject string
	// Anonymous reports a request without credentials.
	Anonymous bool
	// APIKey reports a publisher that presented a configured API key: it may publish to
	// any topic, and subscribe to none.
	APIKey bool
	// ExpiresAt is the token's exp (zero without a token); a server may end a stream then.
	ExpiresAt time.Time

	subscribe []Pattern
	publish   []Pattern
}

// NewIdentity returns the identity of a verified token with subject sub and the given
// patterns, for tests and for callers that verify tokens themselves.
func NewIdentity(sub string, subscribe, publish []Pattern) Identity {
	return Identity{Subject: sub, subscribe: subscribe, publish: publish}
}

// CanSubscribe reports whether the identity's own claims allow subscribing to topic. It
// ignores namespace policy: use DecideSubscribe (or Authenticator.AuthorizeSubscribe) for
// the full decision.
func (id Identity) CanSubscribe(topic herald.Topic) bool {
	if id.Anonymous || id.APIKey {
		return false
	}
	return MatchAny(id.subscribe, topic, id.Subject)
}

// CanPublish reports whether the identity may publish to topic: always for an API key,
// otherwise when one of the token's publish patterns matches.
func (id Identity) CanPublish(topic herald.Topic) bool {
	if id.APIKey {
		return true
	}
	if id.Anonymous {
		return false
	}
	return MatchAny(id.publish, topic, id.Subject)
}

// SubscribePatterns returns the token's subscribe patterns.
func (id Identity) SubscribePatterns() []Pattern { return id.subscribe }

// PublishPatterns returns the token's publish patterns.
func (id Identity) PublishPatterns() []Pattern { return id.publish }

// String describes the identity for logs: "anonymous", "api-key" or "sub:<subject>".
func (id Identity) String() string {
	switch {
	case id.Anonymous:
		return "anonymous"
	case id.APIKey:
		return "api-key"
	default:
		return "sub:" + id.Subject
	}
}

// LogValue implements slog.LogValuer; it never includes a credential.
func (id Identity) LogValue() slog.Value { return slog.StringValue(id.String()) }
