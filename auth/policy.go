package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/heraldpush/herald"
)

// NamespacePolicy is the access policy of one namespace (the part of a topic before its
// first ':'), as configured in YAML: namespaces: {raffle: {public: true}, user: {personal: true}}.
type NamespacePolicy struct {
	// Public lets anyone subscribe, with or without a token.
	Public bool `json:"public" yaml:"public"`
	// Personal restricts a token to the single topic "<namespace>:<sub>" of its own subject,
	// whatever its claims say (they must still allow that topic, e.g. with "user:{sub}").
	Personal bool `json:"personal" yaml:"personal"`
}

// Decision is the outcome of an access check, with a reason for logs and error bodies.
type Decision struct {
	Allowed bool
	Reason  string
	err     error // the sentinel for a denial: ErrNoToken or ErrForbidden
}

// Err returns nil when the decision allows, otherwise an error wrapping ErrNoToken (401) or
// ErrForbidden (403) whose text is the reason.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return fmt.Errorf("%w: %s", d.err, d.Reason)
}

func allow(reason string) Decision { return Decision{Allowed: true, Reason: reason} }

func deny(err error, format string, args ...any) Decision {
	return Decision{Reason: fmt.Sprintf(format, args...), err: err}
}

// DecideSubscribe decides whether id may subscribe to topic in a namespace with policy p.
// tokensRequired reports whether any JWT key source is configured; without one (development
// mode) anonymous subscribers may read everything.
//
//   - public namespace: allowed for everyone;
//   - anonymous: allowed in development mode, otherwise ErrNoToken;
//   - personal namespace: only "<namespace>:<sub>", and only if the claims allow it;
//   - otherwise: allowed when one of the token's subscribe patterns matches.
func DecideSubscribe(id Identity, topic herald.Topic, p NamespacePolicy, tokensRequired bool) Decision {
	switch {
	case p.Public:
		return allow("public namespace")
	case id.Anonymous && !tokensRequired:
		return allow("development mode: no JWT key configured")
	case id.Anonymous:
		return deny(ErrNoToken, "topic %q requires a token", topic)
	case id.APIKey:
		return deny(ErrForbidden, "API keys may publish but not subscribe")
	}
	if p.Personal {
		ns := topic.Namespace()
		if !ValidSubject(id.Subject) || string(topic) != ns+":"+id.Subject {
			return deny(ErrForbidden, "namespace %q is personal: a token may read only %s:<its own sub>", ns, ns)
		}
	}
	if !id.CanSubscribe(topic) {
		return deny(ErrForbidden, "token does not allow subscribing to %q", topic)
	}
	return allow("token allows it")
}

// DecidePublish decides whether id may publish to topic. credentialsRequired reports whether
// any JWT key source or API key is configured; without any (development mode) anonymous
// publishers are allowed only from loopback.
func DecidePublish(id Identity, topic herald.Topic, credentialsRequired, loopback bool) Decision {
	switch {
	case id.APIKey:
		return allow("API key")
	case id.Anonymous && !credentialsRequired && loopback:
		return allow("development mode: loopback client")
	case id.Anonymous && !credentialsRequired:
		return deny(ErrForbidden, "no credentials are configured: publishing is allowed only from loopback")
	case id.Anonymous:
		return deny(ErrNoToken, "publishing requires an API key or a token")
	case !id.CanPublish(topic):
		return deny(ErrForbidden, "token does not allow publishing to %q", topic)
	}
	return allow("token allows it")
}

// AuthorizeSubscribe applies DecideSubscribe with the namespace policy of topic and the
// Authenticator's configuration.
func (a *Authenticator) AuthorizeSubscribe(id Identity, topic herald.Topic) Decision {
	return DecideSubscribe(id, topic, a.Policy(topic), a.verifying)
}

// AuthorizePublish applies DecidePublish with the Authenticator's configuration; r tells
// whether the client is on loopback.
func (a *Authenticator) AuthorizePublish(r *http.Request, id Identity, topic herald.Topic) Decision {
	return DecidePublish(id, topic, a.verifying || len(a.apiKeys) > 0, IsLoopback(r))
}

// IsLoopback reports whether the request's direct peer (r.RemoteAddr) is a loopback address.
// It never trusts forwarding headers; behind a reverse proxy on the same host every request
// looks local, so configure credentials there.
func IsLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return addr.Unmap().IsLoopback()
}

// CheckSubscribe authenticates a subscriber and authorizes every topic, as the SSE handler
// needs it: the error wraps ErrNoToken, ErrInvalidToken, ErrExpiredToken or ErrNotYetValid
// (401), ErrForbidden (403) or ErrKeysUnavailable (503), and names the first denied topic.
func (a *Authenticator) CheckSubscribe(r *http.Request, topics []herald.Topic) (Identity, error) {
	id, err := a.Subscriber(r)
	if err != nil {
		return Identity{}, err
	}
	for _, t := range topics {
		if d := a.AuthorizeSubscribe(id, t); !d.Allowed {
			return id, d.Err()
		}
	}
	return id, nil
}
