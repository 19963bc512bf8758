package server

// Request-time security: the authenticator and limiters built from the configuration, the
// credential a request carries, the admin token, and who may subscribe to which topics.

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

// security is the request-time state of authentication and limits.
type security struct {
	auth     *auth.Authenticator
	leeway   time.Duration
	admin    [sha256.Size]byte
	hasAdmin bool
	// lockReserved: credentials are configured but no JWT key source, so anonymous
	// subscribers pass auth; Herald's own topics still need the admin token.
	lockReserved   bool
	protectMetrics bool
	limits         *limiters
}

// newSecurity builds the authenticator and limiters of cfg.
func newSecurity(cfg Config, logger *slog.Logger) (*security, error) {
	a := cfg.Auth
	policies := make(map[string]auth.NamespacePolicy, len(cfg.Namespaces))
	for name, ns := range cfg.Namespaces {
		if ns.Public || ns.Personal {
			policies[name] = auth.NamespacePolicy{Public: ns.Public, Personal: ns.Personal}
		}
	}
	var key []byte
	if a.JWTKey != "" {
		key = []byte(a.JWTKey)
	}
	au, err := auth.New(auth.Config{
		JWTKey:           key,
		JWTPublicKeyFile: a.JWTPublicKey,
		JWKSURL:          a.JWKSURL,
		Issuer:           a.JWTIssuer,
		Audience:         a.JWTAudience,
		APIKeys:          a.APIKeys,
		Namespaces:       policies,
		Cookie:           a.Cookie,
		Leeway:           a.JWTLeeway,
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	sec := &security{
		auth:           au,
		leeway:         a.leeway(),
		hasAdmin:       a.AdminToken != "",
		lockReserved:   a.Configured() && !au.VerifiesTokens(),
		protectMetrics: a.ProtectMetrics,
		limits:         newLimiters(cfg.Limits),
	}
	if sec.hasAdmin {
		sec.admin = sha256.Sum256([]byte(a.AdminToken))
	}
	return sec, nil
}

// Authenticator returns the server's authenticator, e.g. to tell development mode
// (VerifiesTokens and HasAPIKeys both false) at start-up.
func (s *Server) Authenticator() *auth.Authenticator { return s.sec.auth }

// isAdmin reports whether r carries the admin token (compared in constant time).
func (sec *security) isAdmin(r *http.Request) bool {
	if !sec.hasAdmin {
		return false
	}
	cred := sec.auth.Credential(r)
	if cred == "" {
		return false
	}
	sum := sha256.Sum256([]byte(cred))
	return subtle.ConstantTimeCompare(sum[:], sec.admin[:]) == 1
}

// checkSubscribe authenticates a subscriber and authorizes its topics. The admin token reads
// Herald's own topics and, for other topics, counts as an anonymous client. Errors map with
// auth.HTTPStatus.
func (sec *security) checkSubscribe(r *http.Request, topics []herald.Topic) (auth.Identity, error) {
	if sec.isAdmin(r) {
		anon := auth.Identity{Anonymous: true}
		for _, t := range topics {
			if t.Namespace() == ReservedNamespace {
				continue
			}
			if d := sec.auth.AuthorizeSubscribe(anon, t); !d.Allowed {
				return auth.Identity{}, fmt.Errorf("%w: the admin token may read only %s: topics, not %q",
					auth.ErrForbidden, ReservedNamespace, t)
			}
		}
		return auth.Identity{}, nil // no subject (no per-user limit), no expiry
	}
	id, err := sec.auth.CheckSubscribe(r, topics)
	if err != nil {
		return id, err
	}
	if sec.lockReserved {
		for _, t := range topics {
			if t.Namespace() == ReservedNamespace && !sec.auth.Policy(t).Public {
				return id, fmt.Errorf("%w: topic %q needs the admin token", auth.ErrNoToken, t)
			}
		}
	}
	return id, nil
}
